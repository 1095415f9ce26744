"""Model visualisations: dtreeviz trees (sklearn, XGBoost, Spark ML) and coefficient charts."""
