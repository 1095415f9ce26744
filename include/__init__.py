"""airgenome: trusted-AI pipelines on Apache Airflow 3.

The core package (this folder, ``include/``) stays free of Airflow at import time, so the
sequence spec, the stores' SDKs and the explainers can be used and tested on their own.
"""

__version__ = "0.1.0"
