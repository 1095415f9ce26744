"""Sequences -> Airflow DAGs: the one layer that makes Airflow objects (render) and the
DAG-bundle loader that calls it. Sits above the operators, below the plugin and the CLI."""
