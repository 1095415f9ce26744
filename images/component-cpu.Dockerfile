# CPU component image: every CLAIMED/Genome component, run by a kubernetes-mode step as
#   python -m airgenome.components.runtime NAME
# Build from the repository root:
#   docker build -f images/component-cpu.Dockerfile -t ghcr.io/airgenome/component-cpu:0.1.0 .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# graphviz: dtreeviz renders trees with `dot`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md /tmp/airgenome/
COPY include /tmp/airgenome/include
COPY operators /tmp/airgenome/operators
COPY hooks /tmp/airgenome/hooks
COPY plugins /tmp/airgenome/plugins
# No Airflow: the component runtime installs without it (the `airflow` extra is for the
# plugin and the schedulers). image = tensorflow-cpu, fairness = aif360, robustness = ART
# (spark stays out: it needs a JVM).
# --compile (pip's default, stated so that a PIP_NO_COMPILE in the build cannot drop it): ship
# bytecode. PYTHONDONTWRITEBYTECODE=1 (above) stops Python writing .pyc files at import time,
# so without them every step process would recompile what it imports (`import tensorflow`
# 8.6 s instead of 3.1 s; docs/benchmarks.md).
RUN pip install --compile "/tmp/airgenome[image,fairness,robustness]" && rm -rf /tmp/airgenome

RUN useradd --create-home --uid 50000 genome
USER 50000
WORKDIR /home/genome
CMD ["python", "-m", "airgenome.components.runtime"]
