"""The sentences of `cli_errors.explain` for failures the end-to-end tests cannot provoke
cheaply (a slow server, a refused artifact download, a file that cannot be written)."""

from __future__ import annotations

import httpx

from dreamforge_apps.cli.errors import RequestFailed, explain

URL = "http://images.example:9000/bucket/a.png"


def test_a_server_that_does_not_answer_in_time() -> None:
    error = httpx.ReadTimeout("timed out", request=httpx.Request("GET", URL))
    failed = explain(error, "http://127.0.0.1:8000")
    assert isinstance(failed, RequestFailed)
    assert failed.message == "http://images.example:9000 did not answer in time: timed out"


def test_a_refused_artifact_download() -> None:
    request = httpx.Request("GET", URL)
    response = httpx.Response(403, request=request)
    error = httpx.HTTPStatusError("refused", request=request, response=response)
    failed = explain(error, None)
    assert isinstance(failed, RequestFailed)
    assert failed.message == f"{URL} answered 403 Forbidden"
    assert failed.exit_code == 2


def test_a_file_that_cannot_be_written() -> None:
    failed = explain(PermissionError(13, "Permission denied", "/out/a.png"), None)
    assert failed is not None
    assert failed.message == "/out/a.png: Permission denied"
    assert failed.exit_code == 1


def test_anything_else_is_a_bug_and_keeps_its_traceback() -> None:
    assert explain(KeyError("id"), None) is None
    assert explain(ValueError("x"), None) is None
