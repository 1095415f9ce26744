# Airflow with the airgenome plugin (the image of the Helm chart's api-server, scheduler,
# dag-processor, triggerer and task pods). Build from the repository root:
#   docker build -f images/airflow.Dockerfile -t ghcr.io/airgenome/airflow:0.1.0 .
# Airflow loads the plugin through the package's `airflow.plugins` entry point.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION

COPY --chown=airflow:0 pyproject.toml README.md /tmp/airgenome/
COPY --chown=airflow:0 include /tmp/airgenome/include
COPY --chown=airflow:0 operators /tmp/airgenome/operators
COPY --chown=airflow:0 hooks /tmp/airgenome/hooks
COPY --chown=airflow:0 plugins /tmp/airgenome/plugins

# Pin apache-airflow to the base image's version so pip never up/downgrades Airflow itself.
# The plugin and schedulers need no ML extras; steps run in the component images.
# --compile (pip's default, stated so that a PIP_NO_COMPILE in the build cannot drop it): ship
# bytecode, so no process recompiles what it imports at every start (docs/benchmarks.md).
RUN pip install --no-cache-dir --compile "apache-airflow==${AIRFLOW_VERSION}" "/tmp/airgenome[airflow]" \
    && rm -rf /tmp/airgenome
