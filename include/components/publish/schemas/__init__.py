"""Schemas of real systems the publish components validate against (see PROVENANCE.md)."""
