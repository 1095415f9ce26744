"""Publishing: MLflow aliases, KServe InferenceServices and HTML reports, for blessed versions only."""
