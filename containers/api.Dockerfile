# The API-side image: no torch, no diffusers. Runs `dreamforge serve` (embedded) today and
# `dreamforge api` once the production stack lands.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY dreamforge_core ./dreamforge_core
COPY dreamforge_adapters ./dreamforge_adapters
COPY dreamforge_apps ./dreamforge_apps
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
RUN useradd --create-home --uid 10001 dreamforge
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER dreamforge
WORKDIR /home/dreamforge
ENV DREAMFORGE_DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import httpx,sys; sys.exit(httpx.get('http://127.0.0.1:8000/health').status_code != 200)"
ENTRYPOINT ["dreamforge"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
