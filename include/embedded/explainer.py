"""The explain API as its own service (`airgenome explainer`): the plugin's explain routes
served by uvicorn, accepting the same Airflow tokens as the plugin.

Tokens are validated with Airflow's auth manager and JWT settings, taken from the
environment (production: the same ``AIRFLOW__API_AUTH__*`` settings as the API server) or,
when none are set, from the embedded stack under ``$AIRGENOME_HOME``.
"""

from __future__ import annotations

import os

from airgenome import settings
from airgenome.embedded.stack import Progress


def use_embedded_settings() -> None:
    """Without Airflow auth settings in the environment, trust the embedded stack's."""
    if os.environ.get("AIRFLOW__API_AUTH__JWT_SECRET"):
        return
    from airgenome.embedded.config import DEFAULT_PORT, EmbeddedPaths, airflow_env
    from airgenome.embedded.stack import EmbeddedStack

    home = settings.airgenome_home()
    paths = EmbeddedPaths(home)
    if not paths.secrets_file.exists():
        return
    state = EmbeddedStack(home).load_state()
    env = airflow_env(paths, state.port if state else DEFAULT_PORT)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AIRFLOW", "AIRGENOME"))})


def lower_priority() -> int:
    """Run at `explainer_nice`: the explainer is throughput work beside Airflow's control plane
    (16 clients on it took Airflow's /api/v2 p95 to 1.8-2.0x idle at nice 0 on 2 shared CPUs).
    Returns the nice value now in force."""
    wanted = settings.integer("explainer_nice") or 0
    if wanted > 19:
        raise settings.SettingError(f"AIRGENOME_EXPLAINER_NICE: {wanted} is above 19, the lowest priority")
    current = os.nice(0)
    return os.nice(wanted - current) if wanted > current else current  # never raised: that needs root


def serve(host: str, port: int, progress: Progress) -> None:
    """Serve until interrupted."""
    use_embedded_settings()
    lower_priority()
    import uvicorn
    from airflow.api_fastapi.app import init_auth_manager

    from airgenome.explain.service import get_service
    from airgenome.plugins.routers.explain import standalone_app

    init_auth_manager()
    get_service().preload()
    progress(f"explainer listening on http://{host}:{port}/api/v1/explain")
    uvicorn.run(standalone_app(), host=host, port=port, log_level="warning")
