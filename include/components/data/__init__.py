"""Data components: input, transform, filter, images to class folders, Spark, data validation."""
