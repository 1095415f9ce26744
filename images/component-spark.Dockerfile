# Spark component image: the driver and executors of `spark.apply`'s SparkApplication
# (kubernetes mode). The spark-operator starts its pods through the Spark distribution's own
# entrypoint (/opt/entrypoint.sh driver|executor), so the base is Apache's Spark image; the
# component runtime lives in a Python 3.11 virtual environment at the path the SparkApplication
# names as its main file (airgenome.components.data.spark_application.MAIN_APPLICATION_FILE),
# and pyspark is pinned to the distribution's version so the Python side and the JVM agree
# (airgenome.components.data.spark_application.SPARK_VERSION).
# Build from the repository root:
#   docker build -f images/component-spark.Dockerfile -t ghcr.io/airgenome/component-spark:0.1.0 .
ARG SPARK_VERSION=4.0.0
FROM apache/spark:${SPARK_VERSION}-scala2.13-java17-python3-ubuntu
ARG SPARK_VERSION

USER root
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_INSTALL_DIR=/opt/airgenome/python \
    PYSPARK_PYTHON=/opt/airgenome/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/airgenome/venv/bin/python

COPY pyproject.toml README.md /tmp/airgenome/
COPY include /tmp/airgenome/include
COPY operators /tmp/airgenome/operators
COPY hooks /tmp/airgenome/hooks
COPY plugins /tmp/airgenome/plugins
# The base image's Python is older than airgenome's 3.11: uv brings a standalone 3.11. No
# Airflow, no TensorFlow: the `spark` extra only (pandas and pyarrow come with it).
RUN python3 -m pip install --no-cache-dir uv \
    && uv venv --python 3.11 /opt/airgenome/venv \
    && uv pip install --python /opt/airgenome/venv/bin/python "/tmp/airgenome[spark]" "pyspark==${SPARK_VERSION}" \
    && /opt/airgenome/venv/bin/python -c "import airgenome.components.runtime, pyspark" \
    && rm -rf /tmp/airgenome /root/.cache

# The Spark image's own user (uid 185), as its entrypoint expects.
USER 185
