"""Genome-compatible JSON sequences: spec -> validation -> plan -> Airflow DAG."""
