# syntax=docker/dockerfile:1
# The API image (NFR-054): Python 3.11 slim, the project's API side only, installed from its
# wheel. No worker extra: no torch, no diffusers (the build fails if either slipped in).
# Target size about 300 MB or less; see containers/README.md for the estimate.
#
#   docker build -f containers/api.Dockerfile -t dreamforge-api:0.1.0 .
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: the project's wheel, then a virtual environment with it and its dependencies ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY dreamforge_core ./dreamforge_core
COPY dreamforge_adapters ./dreamforge_adapters
COPY dreamforge_apps ./dreamforge_apps
# The benchmarks (`dreamforge bench`) are for development machines; the services never import them.
RUN rm -rf dreamforge_apps/benchmarks \
 && pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /wheels/dreamforge-*.whl \
 && /opt/venv/bin/python -c "import importlib.util as u, sys; bad = [m for m in ('torch', 'diffusers', 'transformers') if u.find_spec(m)]; sys.exit(f'API image must not contain {bad}' if bad else 0)" \
 && /opt/venv/bin/python -m pip uninstall --yes pip setuptools

# --- runtime ------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 dreamforge \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin dreamforge \
 && mkdir -p /data /models \
 && chown 10001:10001 /data /models
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DREAMFORGE_DATA_DIR=/data \
    DREAMFORGE_MODELS_ROOT=/models
WORKDIR /data
USER 10001:10001
EXPOSE 8000
# Liveness only; orchestrators use /ready for readiness (compose.yaml, deploy/k3s).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["dreamforge", "api", "--host", "0.0.0.0", "--port", "8000"]
