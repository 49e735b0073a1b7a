"""Renders the variable tables of docs/configuration.md from `Settings`.

The meaning of each variable is its Field description and the default is the Field's own, so
the reference cannot drift from the code; this module adds only what the class does not know:
the section, which processes read it, and the words for a default that is computed or unset.
`python -m dreamforge_apps.config_docs [--check] [PATH]` (also `dreamforge config docs`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

from dreamforge_apps.settings import Settings

#: The public configuration names: an interface operators rely on (renaming one needs an ADR).
PUBLIC = frozenset(
    {
        "data_dir", "models_root", "database_url", "redis_url", "s3_endpoint", "s3_access_key",
        "s3_secret_key", "s3_bucket", "s3_region", "artifact_ttl_s", "artifact_ttl_max_s",
        "artifact_retention_days", "api_keys", "admin_api_keys", "runner", "default_model",
        "step_timeout_s", "max_attempts", "idempotency_window_s", "sdxl_base_config",
        "civitai_base_url", "log_level", "log_format", "worker_http_port",
        "models_max_bytes", "rate_limit_per_min", "max_active_jobs_per_key", "webhook_secret",
        "webhook_allow_private",
    }
)  # fmt: skip


class Row(NamedTuple):
    field: str
    read_by: str
    default_note: str = ""  # the whole default when it is None, else words after the value


_SOURCE_TOKENS = (
    "| `CIVITAI_TOKEN`, `HF_TOKEN`, `HF_ENDPOINT` | public | admin | unset; `HF_ENDPOINT` "
    "`https://huggingface.co` | Source credentials and the Hugging Face endpoint, under the "
    "names their own clients use, read by `dreamforge model download`. Tokens go only into "
    "request headers to their own source: never into the registry, descriptor files or logs. "
    "`HUGGING_FACE_HUB_TOKEN` is read when `HF_TOKEN` is unset. |"
)

#: Section id -> its rows, in the order of the document; extra lines end a section's table.
SECTIONS: dict[str, tuple[list[Row], list[str]]] = {
    "storage": (
        [
            Row("data_dir", "serve, admin; worker"),
            Row("models_root", "serve, worker, admin", "`$DREAMFORGE_DATA_DIR/models`"),
        ],
        [],
    ),
    "stack": (
        [
            Row("database_url", "api, worker, admin", "unset (SQLite)"),
            Row("database_pool_size", "api, worker"),
            Row("redis_url", "api, worker", "unset (in-process queue)"),
            Row("redis_namespace", "api, worker"),
            Row("s3_endpoint", "api, worker", "unset (local directory)"),
            Row("s3_public_endpoint", "api", "unset (`DREAMFORGE_S3_ENDPOINT`)"),
            Row("s3_access_key", "api, worker"),
            Row("s3_secret_key", "api, worker"),
            Row("s3_bucket", "api, worker"),
            Row("s3_region", "api, worker"),
        ],
        [],
    ),
    "artifacts": (
        [
            Row("artifact_ttl_s", "serve, api"),
            Row("artifact_ttl_max_s", "serve, api"),
            Row("artifact_retention_days", "api, worker", "(keep)"),
            Row("public_url", "serve"),
            Row("url_signing_key", "serve", "unset (a key file is generated in `DATA_DIR`)"),
        ],
        [],
    ),
    "api": (
        [
            Row("api_keys", "serve, api"),
            Row("admin_api_keys", "serve, api"),
            Row("allow_insecure_bind", "serve, api"),
            Row("idempotency_window_s", "serve, api"),
            Row("rate_limit_per_min", "serve, api"),
            Row("max_active_jobs_per_key", "serve, api"),
            Row("webhook_secret", "serve, api, worker", "unset (webhooks refused)"),
            Row("webhook_allow_private", "serve, api, worker"),
            Row("webhook_timeout_s", "serve, worker"),
            Row("webhook_retry_base_s", "serve, worker"),
            Row("sse_keepalive_s", "serve, api"),
            Row("http_head_timeout_s", "serve, api, worker"),
            Row("http_body_timeout_s", "serve, api, worker"),
            Row("http_max_connections", "serve, api, worker"),
            Row(
                "default_model",
                "serve, api",
                'an installed SDXL model whose name or id contains "epicrealism"; else the '
                "first installed SDXL model by id, demo models aside; else `demo-sdxl-tiny` if "
                "installed; `fake-sdxl` with `RUNNER=fake`",
            ),
        ],
        [],
    ),
    "generation": (
        [
            Row("runner", "serve, worker; api"),
            Row("step_timeout_s", "serve, worker"),
            Row("max_attempts", "serve, worker"),
            Row("retry_base_delay_s", "serve, worker"),
            Row("retry_max_delay_s", "serve, worker"),
            Row("progress_interval_s", "serve, worker"),
            Row("fake_step_delay_s", "serve, worker"),
            Row("fake_load_s", "serve, worker"),
            Row("warm_models", "serve, worker"),
            Row("warm_memory_budget_mb", "serve, worker", "unset (no limit but the count)"),
            Row("runner_threads", "serve, worker"),
            Row("compile_cache_dir", "serve, worker", "`$DREAMFORGE_DATA_DIR/compile-cache`"),
            Row("compile_mode", "serve, worker", "unset (`max-autotune-no-cudagraphs`)"),
            Row("runner_test_hooks", "serve, worker"),
        ],
        [],
    ),
    "worker": (
        [
            Row("worker_http_port", "worker"),
            Row("worker_http_host", "worker"),
            Row("lease_s", "serve, worker"),
            Row("sweep_interval_s", "serve, worker"),
            Row("drain_timeout_s", "serve, worker"),
            Row("worker_heartbeat_timeout_s", "api, worker"),
            Row("worker_poll_ms", "worker"),
            Row("routing_max_wait_s", "worker"),
        ],
        [],
    ),
    "sources": (
        [
            Row("sdxl_base_config", "serve, worker"),
            Row("civitai_base_url", "admin"),
            Row("model_download_jobs", "serve, api, worker"),
            Row("io_worker_threads", "serve, worker"),
            Row("download_timeout_s", "serve, worker"),
            Row("models_max_bytes", "serve, worker, admin"),
        ],
        [_SOURCE_TOKENS],
    ),
    "logging": (
        [Row("log_level", "every command"), Row("log_format", "every command")],
        [],
    ),
    "tracing": (
        [Row("tracing", "serve, api, worker"), Row("trace_sample_ratio", "serve, api, worker")],
        [],
    ),
}

_HEADER = "| Variable | Kind | Read by | Default | Meaning |\n|---|---|---|---|---|"
_BLOCK = re.compile(
    r"(<!-- generated: (?P<id>[a-z]+) \(dreamforge config docs\) -->\n)(.*?)(<!-- end -->)",
    re.S,
)


def env_name(field: str) -> str:
    return f"DREAMFORGE_{field.upper()}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path) and not value.is_absolute():
        return f"./{value}"
    return str(value)


def _default(row: Row) -> str:
    value = Settings.model_fields[row.field].default
    if value is None:
        return row.default_note or "unset"
    shown = f"`{_value(value)}`"
    return f"{shown} {row.default_note}" if row.default_note else shown


def render_section(section: str) -> str:
    rows, extra = SECTIONS[section]
    lines = [_HEADER]
    for row in rows:
        info = Settings.model_fields[row.field]
        kind = "public" if row.field in PUBLIC else "addition"
        meaning = " ".join((info.description or "").split())
        lines.append(
            f"| `{env_name(row.field)}` | {kind} | {row.read_by} | {_default(row)} | {meaning} |"
        )
    return "\n".join([*lines, *extra]) + "\n"


def render(document: str) -> str:
    """`document` with every generated table rendered again; the prose is left as it is."""
    listed = [row.field for rows, _ in SECTIONS.values() for row in rows]
    missing = sorted(set(Settings.model_fields) - set(listed))
    unknown = sorted(set(listed) - set(Settings.model_fields))
    if missing or unknown or len(listed) != len(set(listed)):
        raise ValueError(
            f"SECTIONS out of step with Settings: missing {missing}, unknown {unknown}"
        )
    found = {m.group("id") for m in _BLOCK.finditer(document)}
    if found != set(SECTIONS):
        raise ValueError(f"generated blocks {sorted(found)} differ from {sorted(SECTIONS)}")
    return _BLOCK.sub(lambda m: m.group(1) + render_section(m.group("id")) + m.group(4), document)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    path = Path(paths[0] if paths else "docs/configuration.md")
    current = path.read_text()
    fresh = render(current)
    if fresh == current:
        return 0
    if check:
        print(f"{path} is out of date: run `dreamforge config docs`", file=sys.stderr)
        return 1
    path.write_text(fresh)
    print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
