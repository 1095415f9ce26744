"""The Genome model store on MLflow's model registry.

`client.ModelStore` is the SDK, `estimator.GenomeEstimator` wraps trained models,
`store.ModelStoreBackend` is the storage interface (`mlflow_backend` implements it),
`cards` builds model cards. Importing this package is cheap: MLflow, scikit-learn, SHAP and
TensorFlow are imported only by the functions that need them.
"""
