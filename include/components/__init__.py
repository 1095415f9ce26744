"""CLAIMED's component library on Airflow: specs, a runtime and the implementations.

Importing this package (and `airgenome.components.registry`) is cheap: no Airflow, no ML
library. Implementations import what they need inside their ``run`` functions.
"""
