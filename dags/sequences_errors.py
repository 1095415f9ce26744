"""Airflow DAG file that defines no DAG: it reports broken Genome sequence files.

When a sequence JSON (shipped or uploaded) is invalid, importing this file fails with one
error naming every broken file and each offending field path, which Airflow shows under
"DAG import errors". When every sequence is valid it imports cleanly and defines nothing.
"""

from airgenome.sequence.loader import raise_broken_sequences

raise_broken_sequences(__file__)
