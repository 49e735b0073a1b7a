"""Configuration from the environment (`DREAMFORGE_*`, see CONFIG.md) and a `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DREAMFORGE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        Path("./.dreamforge"), description="Embedded state: SQLite file, local blobs"
    )
    models_root: Path | None = Field(
        None, description="Where models are installed (default: DATA_DIR/models)"
    )
    database_url: str | None = Field(
        None, description="PostgreSQL DSN; when set, jobs and the registry live in Postgres"
    )
    redis_url: str | None = Field(None, description="Redis URL of the Dramatiq broker")
    s3_endpoint: str | None = Field(
        None, description="S3/MinIO endpoint URL; when set, artifacts go to S3"
    )
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_bucket: str = "dreamforge"
    s3_region: str = "us-east-1"
    artifact_ttl_s: int = Field(3600, ge=1, description="Default lifetime of artifact URLs")
    artifact_ttl_max_s: int = Field(604800, ge=1, description="Maximum lifetime of artifact URLs")
    artifact_retention_days: int = Field(
        0, ge=0, description="Lifecycle expiry of stored artifacts (0 = keep)"
    )
    api_keys: str | None = Field(
        None, description="Comma-separated API keys; set => /v1 needs a bearer key"
    )
    runner: Literal["sdxl", "fake"] = Field(
        "sdxl", description="sdxl (diffusers) or fake (the deterministic test double)"
    )
    default_model: str | None = Field(None, description="Model id used when a job names none")
    step_timeout_s: float = Field(1800, gt=0, description="Hard timeout of one step")
    max_attempts: int = Field(
        3, ge=1, description="Attempts per job before it fails and is dead-lettered"
    )
    retry_base_delay_s: float = Field(
        2.0, ge=0, description="First retry delay; doubles per attempt, with jitter"
    )
    retry_max_delay_s: float = Field(300.0, ge=0, description="Cap of the retry delay")
    idempotency_window_s: float = Field(
        86400, gt=0, description="How long an Idempotency-Key is remembered"
    )
    model_download_jobs: bool = Field(
        False,
        description="Accept `model_download` jobs (POST /v1/jobs) and run them on the IO queue",
    )
    io_worker_threads: int = Field(
        1, ge=1, description="Model downloads one worker process runs at once (IO queue)"
    )
    download_timeout_s: float = Field(
        21600, gt=0, description="Hard timeout of one attempt at a model_download job"
    )
    sdxl_base_config: str = "hf:stabilityai/stable-diffusion-xl-base-1.0"
    civitai_base_url: str = "https://civitai.com"
    log_level: str = "info"
    log_format: Literal["json", "console"] = "json"
    worker_http_port: int = 9191
    worker_http_host: str = Field(
        "127.0.0.1", description="Address of the worker's /health, /ready, /metrics server"
    )
    s3_public_endpoint: str | None = Field(
        None,
        description="S3 endpoint as clients reach it, for presigned URLs (default: S3_ENDPOINT)",
    )
    public_url: str | None = Field(
        None, description="Absolute root URL clients reach this server at (for artifact URLs)"
    )
    url_signing_key: str | None = Field(
        None, description="Secret for embedded artifact URLs (default: generated in DATA_DIR)"
    )
    fake_step_delay_s: float = Field(0.0, ge=0, description="Per-step delay of the fake runner")
    progress_interval_s: float = Field(
        0.1, ge=0, description="Minimum interval between stored progress events of one image"
    )
    sse_keepalive_s: float = Field(
        15.0, gt=0, description="Idle interval before an SSE keep-alive comment"
    )
    allow_insecure_bind: bool = Field(
        False, description="Allow a non-loopback bind without API keys"
    )
    redis_namespace: str = Field("dramatiq", description="Key prefix of the Dramatiq queues")
    worker_heartbeat_timeout_s: float = Field(
        60.0, gt=0, description="A worker silent this long is dead: its message is redelivered"
    )
    worker_poll_ms: int = Field(
        200,
        ge=1,
        description="How often an idle worker looks at Redis on its own, in ms (also its "
        "heartbeat). A new job wakes an idle worker at once; the poll finds delayed retries "
        "and redelivered messages. At most a fifth of WORKER_HEARTBEAT_TIMEOUT_S",
    )
    lease_s: float = Field(
        60.0, gt=0, description="A running job whose worker is silent this long is taken over"
    )
    sweep_interval_s: float = Field(
        30.0, gt=0, description="How often a worker looks for lost and abandoned jobs"
    )
    database_pool_size: int = Field(10, ge=1, description="Postgres connections per process")
    runner_threads: int | None = Field(
        None,
        ge=1,
        description="Torch threads in the runner (default: all cores but one without CUDA)",
    )
    runner_test_hooks: bool = Field(
        False,
        description="Honour the runner's test prompt markers ([[oom]], [[crash]], [[slow:S]])",
    )
    compile_cache_dir: Path | None = Field(
        None, description="Persistent torch.compile cache (default: DATA_DIR/compile-cache)"
    )

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in (self.api_keys or "").split(",") if k.strip())

    @property
    def models_dir(self) -> Path:
        return self.models_root or self.data_dir / "models"
