# GPU component image: the same components on TensorFlow with CUDA, for steps with
# resources.gpu > 0 (they request nvidia.com/gpu and land on the GPU node pool).
# Build from the repository root:
#   docker build -f images/component-gpu.Dockerfile -t ghcr.io/airgenome/component-gpu:0.1.0 .
# TensorFlow (GPU build) comes from the base image, so the `image` extra (tensorflow-cpu)
# is deliberately left out: installing it would shadow the CUDA build.
FROM tensorflow/tensorflow:2.21.0-gpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md /tmp/airgenome/
COPY include /tmp/airgenome/include
COPY operators /tmp/airgenome/operators
COPY hooks /tmp/airgenome/hooks
COPY plugins /tmp/airgenome/plugins
# --compile: ship bytecode (PYTHONDONTWRITEBYTECODE=1 above; see component-cpu.Dockerfile).
RUN python3 -m pip install --compile "/tmp/airgenome[fairness,robustness]" \
    && python3 -c "import tensorflow as tf; assert tf.test.is_built_with_cuda(), 'TensorFlow lost its CUDA build'" \
    && rm -rf /tmp/airgenome

RUN useradd --create-home --uid 50000 genome
USER 50000
WORKDIR /home/genome
CMD ["python3", "-m", "airgenome.components.runtime"]
