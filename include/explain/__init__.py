"""Realtime explanations: SHAP (tabular), Grad-CAM (image), LIME (text).

The explainers work on plain fitted models plus Genome's metadata (`ExplainableModel`);
`service.ExplainService` resolves models from the model store, caches them and runs the
work in a bounded pool. Nothing here imports FastAPI or Airflow.
"""
