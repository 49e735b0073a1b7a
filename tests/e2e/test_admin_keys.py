"""Admin keys: only a key of `DREAMFORGE_ADMIN_API_KEYS` may create `model_download` jobs;
other keys get `403 forbidden`, and admin keys work as API keys for everything else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.conftest import ServerProcess

OFFLINE = "http://127.0.0.1:9"  # nothing listens: a download that starts fails, offline
DOWNLOAD = {"type": "model_download", "params": {"ref": "civitai:101"}}
GENERATE = {"params": {"prompt": "p", "width": 64, "height": 64, "steps": 2}}


def _server(make_server: Callable[..., Any], **keys: str) -> ServerProcess:
    server: ServerProcess = make_server(
        DREAMFORGE_MODEL_DOWNLOAD_JOBS="true",
        DREAMFORGE_CIVITAI_BASE_URL=OFFLINE,
        HF_ENDPOINT=OFFLINE,
        **keys,
    )
    server.start()
    return server


def _post(server: ServerProcess, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/jobs",
        json=body,
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=30,
    )


def _assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert "admin" in error["message"]
    assert error["correlation_id"] == response.headers["x-correlation-id"]
    assert set(error) == {"code", "message", "details", "correlation_id", "job_id"}


def test_only_admin_keys_may_create_model_download_jobs(make_server: object) -> None:
    server = _server(
        make_server,  # type: ignore[arg-type]
        DREAMFORGE_API_KEYS="user-key",
        DREAMFORGE_ADMIN_API_KEYS="boss-key, ops-key",
    )
    refused = _post(server, "user-key", DOWNLOAD, **{"Idempotency-Key": "dl-1"})
    _assert_forbidden(refused)

    for admin in ("boss-key", "ops-key"):
        accepted = _post(server, admin, DOWNLOAD)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["type"] == "model_download"
        # an admin key is an API key for everything else too
        assert _post(server, admin, GENERATE).status_code == 202
        listed = httpx.get(
            f"{server.url}/v1/models", headers={"Authorization": f"Bearer {admin}"}, timeout=30
        )
        assert listed.status_code == 200

    # the refused request stored nothing: its Idempotency-Key is still free for that key
    created = _post(server, "user-key", GENERATE, **{"Idempotency-Key": "dl-1"})
    assert created.status_code == 202, created.text
    assert "idempotent-replayed" not in created.headers
    assert _post(server, "nobody", DOWNLOAD).status_code == 401


def test_with_api_keys_and_no_admin_keys_nobody_may_download(make_server: object) -> None:
    server = _server(make_server, DREAMFORGE_API_KEYS="k1,k2")  # type: ignore[arg-type]
    for key in ("k1", "k2"):
        _assert_forbidden(_post(server, key, DOWNLOAD))
        assert _post(server, key, GENERATE).status_code == 202


def test_without_any_keys_the_flag_alone_decides(make_server: object) -> None:
    server = _server(make_server)  # type: ignore[arg-type]
    accepted = httpx.post(f"{server.url}/v1/jobs", json=DOWNLOAD, timeout=30)
    assert accepted.status_code == 202, accepted.text
