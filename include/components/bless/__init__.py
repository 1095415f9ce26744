"""Blessing: a policy over the evaluation store decides whether a model version may be published."""
