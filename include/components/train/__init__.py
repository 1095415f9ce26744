"""Training components: scikit-learn estimators and Keras image models, saved to the model store."""
