"""Evaluation components: each writes a Genome evaluation run linked to the model version."""
