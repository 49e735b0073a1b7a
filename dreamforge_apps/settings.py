"""Configuration from the environment (`DREAMFORGE_*`, see docs/configuration.md) and a `.env` file.

Each description is the "Meaning" column of docs/configuration.md, which
`dreamforge config docs` renders from this class (sections and columns in `config_docs.py`).

It is one module because it is the list of settings, one field each: split, a setting would
hide from its neighbours and the rendered reference would need reassembling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dreamforge_core.domain.webhooks import secret_bytes


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DREAMFORGE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- Storage and models -----------------------------------------------------------
    data_dir: Path = Field(
        Path("./.dreamforge"),
        description=(
            "State of the embedded deployment: the SQLite file, `blobs/`, `url-signing.key` "
            "and, with the SDXL runner, `compile-cache/`. It is created if missing. See "
            "[operations.md](operations.md#data-directory). The stack keeps no state here. "
            "There it only supplies the defaults of `DREAMFORGE_MODELS_ROOT` and (worker) "
            "`DREAMFORGE_COMPILE_CACHE_DIR`."
        ),
    )
    models_root: Path | None = Field(
        None,
        description=(
            "Where model files are installed. `dreamforge model create-demo` writes here, and "
            "`hf:` base configs are looked up under `configs/` here. In `compose.yaml` and "
            "the k3s manifests it is `/models`, a volume that the api and worker containers "
            "share."
        ),
    )

    # --- Production stack: Postgres, Redis, S3 ----------------------------------------
    database_url: str | None = Field(
        None,
        description=(
            "PostgreSQL DSN (a URI such as `postgresql://user:pass@host:5432/db`, or "
            "`key=value` pairs). The stack keeps jobs, events and the model registry there, "
            "and the admin commands use it when it is set. A stack process checks at start-up "
            'that the schema is exactly at its version, and exits otherwise ("run `dreamforge '
            'db migrate` first", or "upgrade the program").'
        ),
    )
    database_pool_size: int = Field(
        10,
        ge=1,
        description=(
            "Postgres connections per process (≥ 1). Each API process also holds one more "
            "connection for `LISTEN`. A request that finds no free connection within 5 s gets "
            "`503 unavailable`."
        ),
    )
    redis_url: str | None = Field(
        None,
        description=(
            "Redis URL of the Dramatiq broker, for example `redis://:password@redis:6379/0`."
        ),
    )
    redis_namespace: str = Field(
        "dramatiq",
        description=(
            "Key prefix of the queues in Redis. Two stacks can share one Redis with different "
            "namespaces. See [operations.md](operations.md#dead-letter-queue) for the keys."
        ),
    )
    s3_endpoint: str | None = Field(
        None,
        description=(
            "S3 or MinIO endpoint, as the services reach it: `http(s)://host[:port]`, with no "
            "path. Any other form stops the process at start-up."
        ),
    )
    s3_public_endpoint: str | None = Field(
        None,
        description=(
            "S3 endpoint as clients reach it, in the same form. Artifact URLs are signed for "
            "this host. Set it when clients cannot resolve the internal endpoint (such as "
            "`http://minio:9000`). Requests to it must reach the same S3 server with the "
            "`Host` header unchanged, because the signature covers the host."
        ),
    )
    s3_access_key: str | None = Field(
        None,
        description=(
            "S3 access key. With the secret key it also signs the artifact URLs, so changing "
            "either invalidates every URL already handed out."
        ),
    )
    s3_secret_key: str | None = Field(
        None,
        description=("S3 secret key, the pair of `DREAMFORGE_S3_ACCESS_KEY`."),
    )
    s3_bucket: str = Field(
        "dreamforge",
        description=(
            "Bucket. It must be a valid S3 bucket name. At start-up, each stack process "
            "creates the bucket if it is missing, deletes any bucket policy that grants "
            "anonymous access, and sets the retention rule (below)."
        ),
    )
    s3_region: str = Field(
        "us-east-1",
        description=("Region. It is used for signing, so it must match the server's region."),
    )

    # --- Artifacts --------------------------------------------------------------------
    artifact_ttl_s: int = Field(
        3600,
        ge=1,
        description=(
            "Default lifetime of artifact URLs, in seconds (≥ 1). It is used when a request "
            "gives no `ttl`."
        ),
    )
    artifact_ttl_max_s: int = Field(
        604800,
        ge=1,
        description=(
            "Longest lifetime of artifact URLs, in seconds (≥ 1). A larger `ttl` is clamped "
            "to it. In the stack, S3 presigned URLs cannot live longer than 604800 s (7 "
            "days). If this setting (or the default TTL) is set higher, longer lifetimes are "
            "clamped to 7 days there."
        ),
    )
    artifact_retention_days: int = Field(
        0,
        ge=0,
        description=(
            "Lifecycle expiry of stored artifacts, in days (≥ 0). In the stack it becomes an "
            "S3 lifecycle rule (id `dreamforge-retention`, prefix `dreamforge/`), set at "
            "every start. `0` removes that rule, and other rules on the bucket are left "
            "alone. `compose.yaml` and the k3s ConfigMap set it to `1`, the development value "
            "of the public interface. The embedded deployment does not apply it and keeps "
            "images until you delete them."
        ),
    )
    public_url: str | None = Field(
        None,
        description=(
            "Absolute root of the embedded deployment's artifact URLs, such as "
            "`https://images.example.com`. Set it behind a reverse proxy. When unset, URLs "
            "use the scheme and host of the request. It has no effect in the stack, whose "
            "artifact URLs point at S3 (see `DREAMFORGE_S3_PUBLIC_ENDPOINT`)."
        ),
    )
    url_signing_key: str | None = Field(
        None,
        description=(
            "Secret for the HMAC signatures of embedded artifact URLs. Changing it "
            "invalidates every URL already handed out."
        ),
    )

    # --- API --------------------------------------------------------------------------
    api_keys: str | None = Field(
        None,
        description=(
            "Comma-separated API keys. When set, `/v1` requires `Authorization: Bearer "
            "<key>`. Spaces around keys are trimmed and empty entries are ignored. It does "
            "not protect the worker's `/health`, `/ready` and `/metrics` port."
        ),
    )
    admin_api_keys: str | None = Field(
        None,
        description=(
            "Comma-separated admin keys: API keys that may also create `model_download` jobs. "
            "They are valid for every other `/v1` request too, with no need to list them in "
            "`DREAMFORGE_API_KEYS` as well. Other keys get `403 forbidden` for a "
            "`model_download` job, so with API keys but no admin keys nobody may create one. "
            "With no keys at all (loopback only), `DREAMFORGE_MODEL_DOWNLOAD_JOBS` alone "
            "decides. See [operations.md](operations.md#admin-keys-and-idempotency-scope)."
        ),
    )
    allow_insecure_bind: bool = Field(
        False,
        description=(
            "Allows `dreamforge serve` or `dreamforge api` to bind a non-loopback address "
            "with no API keys. Same as `--allow-insecure-bind`."
        ),
    )
    rate_limit_per_min: int = Field(
        0,
        ge=0,
        description=(
            "Job creations per minute and API key (per server when no keys are set); over it "
            "`POST /v1/jobs` answers `429 rate_limited` with `Retry-After`. 0: no limit. In "
            "the stack the count lives in Redis, so every API replica applies one limit."
        ),
    )
    max_active_jobs_per_key: int = Field(
        0,
        ge=0,
        description=(
            "Jobs queued or running at once per API key (per server when no keys are set); "
            "over it `POST /v1/jobs` answers `429 rate_limited`. 0: no limit."
        ),
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description=(
            "Standard Webhooks secret (`whsec_` + base64 of 24 to 64 random bytes) that signs "
            "webhook deliveries. Unset: a job asking for a `webhook` gets `422` naming the "
            "field. Make one with `dreamforge config webhook-secret`. See "
            "[operations.md](operations.md#webhooks)."
        ),
    )
    webhook_allow_private: bool = Field(
        False,
        description=(
            "Allows webhook targets whose host is, or resolves to, a loopback, private, "
            "link-local or cloud metadata address (tests, closed networks). Off, such a "
            "`webhook` gets `422` at creation and a delivery to such an address fails."
        ),
    )
    webhook_timeout_s: float = Field(
        10.0,
        gt=0,
        le=60,
        description=(
            "Seconds a webhook receiver has to answer one delivery (> 0, ≤ 60); no answer "
            "counts as a failed attempt."
        ),
    )
    webhook_retry_base_s: float = Field(
        5.0,
        gt=0,
        le=600,
        description=(
            "Wait after a webhook's first failed attempt, in seconds (> 0, ≤ 600); each further "
            "failure doubles it (at most 10 minutes between attempts), with jitter, and "
            "attempts go on for 75 minutes after the event."
        ),
    )
    idempotency_window_s: float = Field(
        86400,
        gt=0,
        description=("How long an `Idempotency-Key` is remembered, in seconds (> 0)."),
    )
    sse_keepalive_s: float = Field(
        15.0,
        gt=0,
        description=(
            "Seconds without an event before the SSE stream sends a `: keep-alive` comment (> 0)."
        ),
    )
    http_head_timeout_s: float = Field(
        10.0,
        gt=0,
        description=(
            "Seconds a connection may take to send a request's line and headers (> 0), "
            "counted from when it opens or its previous response ended. A client that has "
            "sent part of them by then gets `408 request_timeout`; the connection is closed "
            "either way. It stops clients that send a head a byte at a time (slowloris). An "
            "idle keep-alive connection is closed after 5 s anyway."
        ),
    )
    http_body_timeout_s: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds a request body may take to arrive after its headers (> 0); then the "
            "client gets `408 request_timeout` and the connection is closed. At 30 s the "
            "largest body (1 MiB) needs about 35 KB/s."
        ),
    )
    http_max_connections: int = Field(
        2048,
        ge=1,
        description=(
            "Open HTTP connections per server process (≥ 1), SSE streams included. One more "
            "takes the place of the connection that has waited longest for a request; when "
            "every connection is busy with a request, it gets `503 unavailable` and is "
            "closed. At start-up the process raises its open-files limit (`ulimit -n`) to "
            "this plus 256 if the hard limit allows, and otherwise lowers the bound to fit, "
            "with a warning."
        ),
    )
    default_model: str | None = Field(
        None,
        description=(
            "Model id used when a job names none. When unset, the rule in the Default column "
            "picks among the installed, enabled models each time a job is created, so a model "
            "installed or enabled while the server runs counts at once, with no restart (see "
            "[jobs.md](jobs.md#default-model-and-checkpoint-hash)). If nothing qualifies, a job "
            "without `model_id` gets `422`."
        ),
    )

    # --- Generation -------------------------------------------------------------------
    runner: Literal["sdxl", "fake"] = Field(
        "sdxl",
        description=(
            "`sdxl`: diffusers in a supervised child process. It needs `torch` and "
            "`diffusers` installed and a registered SDXL model. `fake`: the deterministic "
            "test double, which needs neither and registers its own `fake-sdxl` model. The "
            "API reads it too, to register `fake-sdxl` and make it the default model, so give "
            "`api` and `worker` the same value."
        ),
    )
    step_timeout_s: float = Field(
        1800,
        gt=0,
        description=(
            "Hard timeout of the `generate` step, in seconds (> 0). It covers **all images of "
            "one attempt together**, not each image. When it runs out, the attempt fails with "
            "`timeout` (retried), and the SDXL runner also kills its runner process to free "
            "its memory. A retry gets a fresh budget and resumes at the first unfinished "
            "image. In the stack, Dramatiq's own time limit is set 120 s above it, as a "
            "backstop."
        ),
    )
    max_attempts: int = Field(
        3,
        ge=1,
        description=(
            "Attempts per job before it fails and is dead-lettered (≥ 1). It also bounds jobs "
            "that lose their worker (a crash, or a stopped server): a job that had already "
            "used its last attempt is failed (`provider_error`) instead of resumed."
        ),
    )
    retry_base_delay_s: float = Field(
        2.0,
        ge=0,
        description=(
            "Ceiling of the first retry's delay (≥ 0). The ceiling doubles with each retry, "
            "and the actual delay is drawn at random from [ceiling/2, ceiling]. See "
            "[jobs.md](jobs.md#retries)."
        ),
    )
    retry_max_delay_s: float = Field(
        300.0,
        ge=0,
        description=("Upper bound of the retry delay ceiling (≥ 0)."),
    )
    progress_interval_s: float = Field(
        0.1,
        ge=0,
        description=(
            "Shortest interval between stored progress events of one image (≥ 0). The last "
            "denoising step is always stored; for an image faster than 10 ms it is stored "
            "with the image's own record."
        ),
    )
    fake_step_delay_s: float = Field(
        0.0,
        ge=0,
        description=(
            "Seconds the fake runner waits per denoising step (≥ 0). It stands in for GPU "
            "time in demos and benchmarks."
        ),
    )
    fake_load_s: float = Field(
        0.0,
        ge=0,
        description=(
            "Seconds the fake runner takes to load a model that is not warm (≥ 0); moving an "
            "idle one back from CPU memory takes a tenth of it. It stands in for a real load "
            "in tests and benchmarks of model routing."
        ),
    )
    warm_models: int = Field(
        1,
        ge=1,
        description=(
            "Models a worker keeps loaded (≥ 1): the one in use on the GPU, the others moved "
            "to CPU memory while idle, so a job on any of them starts without a load. The "
            "least recently used is dropped first. See "
            "[operations.md](operations.md#warm-models-and-routing)."
        ),
    )
    warm_memory_budget_mb: int | None = Field(
        None,
        ge=1,
        description=(
            "Memory, in MiB, that a worker's warm models may take together (≥ 1): fewer than "
            "`DREAMFORGE_WARM_MODELS` are kept when their weights do not fit in it. The "
            "model in use always stays."
        ),
    )
    runner_threads: int | None = Field(
        None,
        ge=1,
        description=(
            "Torch intra-op threads in the SDXL runner process (≥ 1). When unset, torch "
            "chooses on a CUDA machine, and the runner uses all CPU cores but one on a "
            "machine without CUDA."
        ),
    )
    compile_cache_dir: Path | None = Field(
        None,
        description=(
            "Persistent `torch.compile` cache of the SDXL runner (used by presets that "
            "compile, on CUDA). Compiled kernels survive runner restarts. The worker image "
            "uses `/cache/compile`, on a volume."
        ),
    )
    compile_mode: (
        Literal["max-autotune-no-cudagraphs", "reduce-overhead", "max-autotune", "default"] | None
    ) = Field(
        None,
        description=(
            "`torch.compile` mode of the SDXL runner for presets that compile (`h100-fast`), on "
            "CUDA. Unset: `max-autotune-no-cudagraphs`. `reduce-overhead` and `max-autotune` "
            "add CUDA graphs (static shapes: one size per compiled graph, more memory). See "
            "[performance.md](performance.md#runtime-presets)."
        ),
    )
    runner_test_hooks: bool = Field(
        False,
        description=(
            "For tests only. The runner honours prompt markers: the SDXL runner `[[oom]]` (a "
            "simulated out-of-memory error), `[[crash]]` (the runner process exits) and "
            "`[[slow:S]]` (sleep S seconds); the fake runner `[[fail:CODE]]`, where CODE is "
            "`provider_error`, `timeout`, `oom` or `storage_error` (every attempt fails with "
            "that code). Never enable this in production."
        ),
    )

    # --- Stack worker -----------------------------------------------------------------
    worker_http_port: int = Field(
        9191,
        description=(
            "Port of the worker's `/health`, `/ready` and `/metrics`. `dreamforge serve` does "
            "not use it: it serves these on its API port."
        ),
    )
    worker_http_host: str = Field(
        "127.0.0.1",
        description=(
            "Address of that server. In a container, set `0.0.0.0` so that the port can be "
            "reached from outside it (`compose.yaml` and the k3s ConfigMap do). The port has "
            "no authentication."
        ),
    )
    lease_s: float = Field(
        60.0,
        gt=0,
        description=(
            "A running job's lease, in seconds (> 0). The worker renews it with every save "
            "and at least every `LEASE_S`/3. A running job whose lease has lapsed lost its "
            "worker and is taken over by another (in `dreamforge serve`, by its own sweeper). "
            "See "
            "[operations.md](operations.md#leases-and-the-sweeper)."
        ),
    )
    sweep_interval_s: float = Field(
        30.0,
        gt=0,
        description=(
            "How often each worker, and `dreamforge serve`, looks for lost and abandoned jobs, "
            "in seconds (> 0). The first sweep runs one interval after start-up. A queued job "
            "that has not changed for twice this interval is enqueued again."
        ),
    )
    drain_timeout_s: float = Field(
        30.0,
        gt=0,
        description=(
            "Drain window of a graceful stop (SIGTERM, SIGINT) of a worker or of "
            "`dreamforge serve`, in seconds (> 0). The image in progress may finish within it; "
            "past it, the image stops at its next step, and the SDXL runner's process is "
            "killed 5 s later if it is still busy (a model load). Either way the job goes back "
            "to its queue at once, and the stop costs it no attempt. Keep the orchestrator's "
            "grace period above it with a margin: `compose.yaml` gives the worker 60 s, the "
            "k3s manifests 90 s. See [operations.md](operations.md#graceful-stop)."
        ),
    )
    worker_heartbeat_timeout_s: float = Field(
        60.0,
        gt=0,
        description=(
            "A worker whose Redis heartbeat is silent this long is taken for dead, and its "
            "unacknowledged message is delivered to another worker (> 0). Give `api` and "
            "`worker` the same value: both pass it to the broker."
        ),
    )
    routing_max_wait_s: float = Field(
        0.0,
        ge=0,
        description=(
            "Model routing in the stack (≥ 0 seconds; 0, the default, turns it off). On, a "
            "free worker prefers queued jobs of the models it holds warm, and leaves a job "
            "whose model another live worker holds warm to that worker, but for no longer "
            "than this many seconds after the job could start; no job is passed over by one "
            "that came this much later, and priorities are never crossed. Jobs of one "
            "priority then no longer start strictly oldest first. Off, every job goes to the "
            "next free worker in queue order. 10 suits SDXL workers that keep 2 or more "
            "models warm. See "
            "[operations.md](operations.md#warm-models-and-routing)."
        ),
    )
    worker_poll_ms: int = Field(
        200,
        ge=1,
        description=(
            "How often an idle worker looks at Redis on its own, in milliseconds (≥ 1). A new "
            "job wakes an idle worker at once (a token on `<namespace>:<queue>.wake`, see ADR "
            "0012), so this does not bound pickup latency; it bounds how late a delayed retry "
            "or a redelivered message is picked up, and each poll is also the worker's "
            "heartbeat. It must be at most a fifth of "
            "`DREAMFORGE_WORKER_HEARTBEAT_TIMEOUT_S`; otherwise the worker refuses to start "
            '("heartbeat timeout … is too close to the poll interval").'
        ),
    )

    # --- Model sources ----------------------------------------------------------------
    sdxl_base_config: str = Field(
        "hf:stabilityai/stable-diffusion-xl-base-1.0",
        description=(
            "The SDXL base pipeline config (a diffusers folder with `model_index.json`; no "
            "weights needed), used to load single-file checkpoints. Give a path, or an "
            "`hf:owner/name` reference, which is looked up at "
            "`$DREAMFORGE_MODELS_ROOT/configs/owner--name`. Nothing is downloaded at run "
            "time. A checkpoint whose model has its own config does not need it. Without it, "
            "a job on a single-file checkpoint fails with `invalid_input`."
        ),
    )
    civitai_base_url: str = Field(
        "https://civitai.com",
        description=(
            "CivitAI site root (API under `/api/v1`, downloads under `/api/download`), read "
            "by `dreamforge model download civitai:…`."
        ),
    )
    model_download_jobs: bool = Field(
        False,
        description=(
            "Accept `model_download` jobs on `POST /v1/jobs` (FR-098) and run them on the IO "
            "queue. Set it on the API and the workers alike. See "
            "[operations.md](operations.md#background-downloads-model_download-jobs). A "
            "feature flag: `dreamforge config flags` shows its owner and expiry."
        ),
    )
    io_worker_threads: int = Field(
        1,
        ge=1,
        description=(
            "How many model downloads one process runs at once (≥ 1); they never share "
            "threads with generation."
        ),
    )
    download_timeout_s: float = Field(
        21600,
        gt=0,
        description=(
            "Hard timeout of one attempt at a `model_download` job, in seconds (> 0). A "
            "timed-out attempt is retried and resumes its partial files. Where download jobs "
            "are enabled, partial files untouched for longer are removed when `serve` or a "
            "worker starts."
        ),
    )
    models_max_bytes: int = Field(
        0,
        ge=0,
        description=(
            "Disk budget of the models root for downloads, in bytes (0: no budget). A "
            "download (`dreamforge model download` or a `model_download` job) that would take "
            "the files under the models root past it is refused before its first byte. "
            "Whatever the budget, a download must also leave max(1 GiB, 5 % of the disk) free "
            "on the disk of the models root."
        ),
    )

    # --- Logging ----------------------------------------------------------------------
    log_level: str = Field(
        "info",
        description=("`debug`, `info`, `warning`, `error` or `critical`."),
    )
    log_format: Literal["json", "console"] = Field(
        "json",
        description=(
            "`json` (one JSON object per line on stderr) or `console` (human-readable). See "
            "[operations.md](operations.md#logs)."
        ),
    )
    tracing: Literal["off", "otlp", "console"] = Field(
        "off",
        description=(
            "OpenTelemetry traces (NFR-022): `off`, `otlp` (OTLP over HTTP to "
            "`OTEL_EXPORTER_OTLP_ENDPOINT`, default `http://localhost:4318`) or `console` "
            "(spans as JSON on stdout). Needs the `tracing` extra "
            "(`pip install 'dreamforge[tracing]'`). See "
            "[operations.md](operations.md#traces). A feature flag: `dreamforge config flags` "
            "shows its owner and expiry."
        ),
    )
    trace_sample_ratio: float = Field(
        0.01,
        ge=0,
        le=1,
        description=(
            "Share of traces kept (0 to 1), decided per trace at its root; a request with a "
            "sampled `traceparent` is always kept."
        ),
    )

    @field_validator("webhook_secret")
    @classmethod
    def _a_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            secret_bytes(value.get_secret_value())  # a ValueError names what is wrong
            return value
        return None  # set but empty: unset

    @property
    def webhook_key(self) -> bytes | None:
        """The key that signs webhook deliveries; None when webhooks are off."""
        if self.webhook_secret is None:
            return None
        return secret_bytes(self.webhook_secret.get_secret_value())

    @property
    def api_key_set(self) -> frozenset[str]:
        return _key_set(self.api_keys)

    @property
    def admin_api_key_set(self) -> frozenset[str]:
        return _key_set(self.admin_api_keys)

    @property
    def models_dir(self) -> Path:
        return self.models_root or self.data_dir / "models"


def _key_set(value: str | None) -> frozenset[str]:
    return frozenset(k.strip() for k in (value or "").split(",") if k.strip())
