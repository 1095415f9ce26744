"""The Airflow plugin, registered through the ``airflow.plugins`` entry point only."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airgenome.plugins.app import URL_PREFIX, create_app
from airgenome.plugins.task_preload import preload_for_task_processes

preload_for_task_processes()  # in the scheduler only: its LocalExecutor workers inherit them


class AirgenomePlugin(AirflowPlugin):
    name = "airgenome"
    fastapi_apps = [
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "airgenome"},
    ]
    external_views = [
        {
            "name": "Models",
            "href": f"{URL_PREFIX}/models",
            "destination": "nav",
            "category": "airgenome",
            "url_route": "airgenome-models",
        },
        {
            "name": "Evaluations",
            "href": f"{URL_PREFIX}/evaluations",
            "destination": "nav",
            "category": "airgenome",
            "url_route": "airgenome-evaluations",
        },
        {
            "name": "Sequences",
            "href": f"{URL_PREFIX}/sequences",
            "destination": "nav",
            "category": "airgenome",
            "url_route": "airgenome-sequences",
        },
        {
            "name": "Components",
            "href": f"{URL_PREFIX}/components",
            "destination": "nav",
            "category": "airgenome",
            "url_route": "airgenome-components",
        },
    ]
