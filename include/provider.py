"""Provider metadata for Airflow's ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airgenome import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airgenome",
        "name": "airgenome",
        "description": "Trusted-AI pipelines: CLAIMED components, Genome sequencer, stores, explanations.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "airgenome_model_store",
                "hook-class-name": "airgenome.hooks.model_store.ModelStoreHook",
            },
            {
                "connection-type": "airgenome_evaluation_store",
                "hook-class-name": "airgenome.hooks.evaluation_store.EvaluationStoreHook",
            },
        ],
        "config": {
            "airgenome": {
                "description": "airgenome settings (also readable as AIRGENOME_* variables).",
                "options": {
                    "home": {
                        "description": "Embedded home: stores, uploads and Airflow metadata.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/opt/airgenome",
                        "default": None,
                    },
                    "execution_mode": {
                        "description": "How sequence steps run: local (subprocess) or kubernetes (pod).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "kubernetes",
                        "default": "local",
                    },
                    "gpu_pool": {
                        "description": "Airflow pool that GPU steps take slots from (one per GPU).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "gpu",
                        "default": "gpu",
                    },
                    "gpu_slots": {
                        "description": "GPUs in the pool; default: the GPUs visible to `up`.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "4",
                        "default": None,
                    },
                    "image_allow_list": {
                        "description": "Comma-separated image prefixes allowed in kubernetes mode.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "ghcr.io/acme/,registry.local/",
                        "default": "",
                    },
                    "model_store_conn_id": {
                        "description": "Connection for the MLflow model store.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "airgenome_model_store_default",
                        "default": "airgenome_model_store_default",
                    },
                    "evaluation_store_conn_id": {
                        "description": "Connection for the evaluation store database.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "airgenome_evaluation_store_default",
                        "default": "airgenome_evaluation_store_default",
                    },
                },
            }
        },
    }
