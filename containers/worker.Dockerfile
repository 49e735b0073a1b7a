# syntax=docker/dockerfile:1
# The GPU worker image (NFR-054): a pinned CUDA base, Python 3.11, the project with its
# `worker` extra (torch==2.13.0 from PyPI, whose Linux wheel is the CUDA 13.0 build and
# brings its own CUDA runtime, cuBLAS and cuDNN as pip packages).
#
#   docker build -f containers/worker.Dockerfile -t dreamforge-worker:0.1.0 .
#
# The base is CUDA 13.0 "base" (CUDA runtime + compat only): the torch wheels carry the
# CUDA libraries, so the cudnn-runtime flavour would only duplicate gigabytes. Its
# NVIDIA_REQUIRE_CUDA=cuda>=13.0 makes the NVIDIA runtime refuse a host driver too old for
# torch's CUDA 13 build (needs driver >= 580) with a clear message at start.
# Ubuntu 24.04 ships Python 3.12, so Python 3.11 is a pinned standalone build installed by uv.
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-base-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9.26
ARG PYTHON_VERSION=3.11.14

FROM ${UV_IMAGE} AS uv

# --- build: Python 3.11, the project's wheel, a virtual environment with .[worker] -----------
FROM ${CUDA_IMAGE} AS build
ARG PYTHON_VERSION
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
RUN uv python install "${PYTHON_VERSION}" \
 && uv venv --python "${PYTHON_VERSION}" /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY dreamforge_core ./dreamforge_core
COPY dreamforge_adapters ./dreamforge_adapters
COPY dreamforge_apps ./dreamforge_apps
RUN uv build --wheel --python "${PYTHON_VERSION}" --out-dir /wheels . \
 && wheel="$(ls /wheels/dreamforge-*.whl)" \
 && uv pip install --python /opt/venv/bin/python "dreamforge[worker] @ file://${wheel}" \
 && /opt/venv/bin/python -c "import torch, diffusers; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

# --- runtime ------------------------------------------------------------------------------
FROM ${CUDA_IMAGE}
RUN groupadd --system --gid 10001 dreamforge \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/dreamforge \
      --shell /usr/sbin/nologin dreamforge \
 && mkdir -p /data /models /cache/compile \
 && chown -R 10001:10001 /data /models /cache
COPY --from=build /opt/python /opt/python
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DREAMFORGE_DATA_DIR=/data \
    DREAMFORGE_MODELS_ROOT=/models \
    DREAMFORGE_COMPILE_CACHE_DIR=/cache/compile \
    TRITON_CACHE_DIR=/cache/compile/triton \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /data
USER 10001:10001
EXPOSE 9191
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=4 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('DREAMFORGE_WORKER_HTTP_PORT', '9191'), timeout=4)"
CMD ["dreamforge", "worker"]
