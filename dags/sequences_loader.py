"""Airflow DAG file: one DAG per Genome sequence JSON.

Reads ``dags/sequences/*.json`` (shipped examples) and the uploads folder
(``AIRGENOME_UPLOADS_FOLDER``, default ``$AIRGENOME_HOME/uploads``). A broken file is skipped
here and reported by ``sequences_errors.py`` instead, so it never hides another sequence.
"""

from airgenome.build.loader import publish_dags

publish_dags(globals(), __file__)
