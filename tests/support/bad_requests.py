"""Bad requests and the envelope each must get: run in-process against the app the containers
build, and a share of them through real servers of both deployments.

It is one module because it is one table: each bad request beside the envelope it must get.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tests.support.images import data_url, encoded, mask_url, png_claiming, png_url

OK = {"prompt": "p", "width": 64, "height": 64, "steps": 2}
_PNG = encoded(64, 64)
_IMG = {**OK, "init_image": png_url()}
_UP = {"factor": 1.5, "strength": 0.5, "steps": 4}


def _bad_input(name: str, params: dict[str, Any], field: str) -> tuple[Any, ...]:
    return (name, "POST", "/v1/jobs", {"params": params}, {}, 422, "invalid_input", field)


# Image-to-image and inpainting inputs: each refused naming its field, nothing stored.
_IMAGE_ROWS = [
    _bad_input(
        "init_image not an image", {**OK, "init_image": data_url(b"hello")}, "params.init_image"
    ),
    _bad_input(
        "init_image truncated",
        {**OK, "init_image": data_url(_PNG[: len(_PNG) // 2])},
        "params.init_image",
    ),
    _bad_input(
        "init_image a GIF",
        {**OK, "init_image": data_url(b"GIF89a" + bytes(64))},
        "params.init_image",
    ),
    _bad_input(
        "init_image over 8 MiB",
        {**OK, "init_image": data_url(_PNG + bytes(9 * 2**20))},
        "params.init_image",
    ),
    _bad_input(
        "init_image a pixel bomb",
        {**OK, "init_image": data_url(png_claiming(20000, 20000))},
        "pixels",
    ),
    _bad_input(
        "init_image not base64",
        {**OK, "init_image": "data:image/png;base64,@@@"},
        "params.init_image",
    ),
    _bad_input(
        "init_image a URL", {**OK, "init_image": "https://example.com/a.png"}, "params.init_image"
    ),
    _bad_input(
        "init_image of a missing job",
        {**OK, "init_image": "artifact:0123456789abcdef/0"},
        "params.init_image",
    ),
    _bad_input(
        "mask of another aspect ratio",
        {**_IMG, "mask_image": mask_url(64, 32)},
        "params.mask_image",
    ),
    _bad_input("mask without init_image", {**OK, "mask_image": mask_url()}, "params.mask_image"),
    _bad_input("strength 0", {**_IMG, "strength": 0}, "params.strength"),
    _bad_input("strength above 1", {**_IMG, "strength": 1.5}, "params.strength"),
    _bad_input("strength x steps under one step", {**_IMG, "strength": 0.3}, "params.strength"),
    _bad_input("strength without init_image", {**OK, "strength": 0.5}, "params.strength"),
    _bad_input(
        "upscale factor 3", {**OK, "upscale": {**_UP, "factor": 3}}, "params.upscale.factor"
    ),
    _bad_input(
        "upscale factor 1", {**OK, "upscale": {**_UP, "factor": 1}}, "params.upscale.factor"
    ),
    _bad_input(
        "upscale strength 0", {**OK, "upscale": {**_UP, "strength": 0}}, "params.upscale.strength"
    ),
    _bad_input(
        "upscale strength 2", {**OK, "upscale": {**_UP, "strength": 2}}, "params.upscale.strength"
    ),
    _bad_input("upscale steps 0", {**OK, "upscale": {**_UP, "steps": 0}}, "params.upscale.steps"),
    _bad_input(
        "upscale unknown field", {**OK, "upscale": {**_UP, "model": "x"}}, "params.upscale.model"
    ),
    _bad_input("upscale not an object", {**OK, "upscale": 2}, "params.upscale"),
    _bad_input(
        "upscale past the largest size",
        {**OK, "width": 2048, "upscale": _UP},
        "params.upscale.factor",
    ),
    (
        "image request over 16 MiB",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "init_image": data_url(bytes(13 * 2**20))}},
        {},
        413,
        "payload_too_large",
        "size limit",
    ),
]

# (name, method, path, body or raw bytes, headers, status, code, text the error must name)
_TABLE: list[tuple[Any, ...]] = [
    (
        "missing prompt",
        "POST",
        "/v1/jobs",
        {"params": {"count": 1}},
        {},
        422,
        "invalid_input",
        "params.prompt",
    ),
    (
        "empty prompt",
        "POST",
        "/v1/jobs",
        {"params": {"prompt": "  "}},
        {},
        422,
        "invalid_input",
        "params.prompt",
    ),
    (
        "count 0",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "count": 0}},
        {},
        422,
        "invalid_input",
        "params.count",
    ),
    (
        "count 101",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "count": 101}},
        {},
        422,
        "invalid_input",
        "params.count",
    ),
    (
        "width not multiple of 8",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "width": 100}},
        {},
        422,
        "invalid_input",
        "params.width",
    ),
    (
        "oversize height",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "height": 4096}},
        {},
        422,
        "invalid_input",
        "params.height",
    ),
    (
        "steps 0",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "steps": 0}},
        {},
        422,
        "invalid_input",
        "params.steps",
    ),
    (
        "guidance too high",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "guidance": 99}},
        {},
        422,
        "invalid_input",
        "params.guidance",
    ),
    (
        "unknown scheduler",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "scheduler": "lms"}},
        {},
        422,
        "invalid_input",
        "params.scheduler",
    ),
    (
        "unknown param",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "sampler": "x"}},
        {},
        422,
        "invalid_input",
        "params.sampler",
    ),
    (
        "unknown top-level field",
        "POST",
        "/v1/jobs",
        {"params": OK, "priority": 1},
        {},
        422,
        "invalid_input",
        "priority",
    ),
    (
        "webhook without a configured secret",
        "POST",
        "/v1/jobs",
        {"params": OK, "webhook": "https://hooks.example.com/x"},
        {},
        422,
        "invalid_input",
        "DREAMFORGE_WEBHOOK_SECRET",
    ),
    (
        "webhook not http",
        "POST",
        "/v1/jobs",
        {"params": OK, "webhook": "file:///etc/passwd"},
        {},
        422,
        "invalid_input",
        "webhook: must be an http or https URL",
    ),
    (
        "unknown webhook event",
        "POST",
        "/v1/jobs",
        {"params": OK, "webhook": "https://hooks.example.com/x", "webhook_events": ["done"]},
        {},
        422,
        "invalid_input",
        "webhook_events",
    ),
    (
        "webhook events without a webhook",
        "POST",
        "/v1/jobs",
        {"params": OK, "webhook_events": ["completed"]},
        {},
        422,
        "invalid_input",
        "webhook_events",
    ),
    (
        "steps as string",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "steps": "20"}},
        {},
        422,
        "invalid_input",
        "params.steps",
    ),
    (
        "count as bool",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "count": True}},
        {},
        422,
        "invalid_input",
        "params.count",
    ),
    (
        "seed negative",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "seed": -1}},
        {},
        422,
        "invalid_input",
        "params.seed",
    ),
    (
        "bad format",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "format": "gif"}},
        {},
        422,
        "invalid_input",
        "params.format",
    ),
    (
        "params not an object",
        "POST",
        "/v1/jobs",
        {"params": "draw a cat"},
        {},
        422,
        "invalid_input",
        "params",
    ),
    ("body not an object", "POST", "/v1/jobs", [1, 2], {}, 422, "invalid_input", "body"),
    (
        "invalid JSON",
        "POST",
        "/v1/jobs",
        b'{"params": {"prompt": "p",}',
        {},
        422,
        "invalid_input",
        "body",
    ),
    (
        "not JSON content type",
        "POST",
        "/v1/jobs",
        b"prompt=p",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        "application/json",
    ),
    (
        "oversized body",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "prompt": "x" * (1024 * 1024 + 10)}},
        {},
        413,
        "payload_too_large",
        "size limit",
    ),
    (
        "bad Idempotency-Key",
        "POST",
        "/v1/jobs",
        {"params": OK},
        {"idempotency-key": "x" * 256},
        422,
        "invalid_input",
        "Idempotency-Key",
    ),
    (
        "unknown model id",
        "POST",
        "/v1/jobs",
        {"model_id": "nope", "params": OK},
        {},
        422,
        "invalid_input",
        "model_id",
    ),
    (
        "unknown provider",
        "POST",
        "/v1/jobs",
        {"provider": "dalle", "params": OK},
        {},
        422,
        "invalid_input",
        "provider",
    ),
    (
        "unknown job id",
        "GET",
        "/v1/jobs/does-not-exist",
        None,
        {},
        404,
        "not_found",
        "does-not-exist",
    ),
    (
        "unknown job artifacts",
        "GET",
        "/v1/jobs/does-not-exist/artifacts",
        None,
        {},
        404,
        "not_found",
        "does-not-exist",
    ),
    ("unknown model", "GET", "/v1/models/nope", None, {}, 404, "not_found", "nope"),
    ("unknown route", "GET", "/v1/nothing-here", None, {}, 404, "not_found", ""),
    (
        "bad include_disabled",
        "GET",
        "/v1/models?include_disabled=maybe",
        None,
        {},
        422,
        "invalid_input",
        "include_disabled",
    ),
]


class BadRequest(NamedTuple):
    name: str
    method: str
    path: str
    body: object  # JSON, raw bytes, or None
    headers: dict[str, str]
    status: int
    code: str
    names: str  # text the error must name

    def kwargs(self) -> dict[str, Any]:
        """What an httpx-style `request(method, url, **kwargs)` sends."""
        kwargs: dict[str, Any] = {"headers": self.headers}
        if isinstance(self.body, bytes):
            kwargs["content"] = self.body
        elif self.body is not None:
            kwargs["json"] = self.body
        return kwargs

    def check(self, response: Any) -> None:
        assert_envelope(response, self.status, self.code, self.names)


CASES = [BadRequest(*row) for row in [*_TABLE, *_IMAGE_ROWS]]

JOB_CASES = [
    ("bad since_ts", "/logs?since_ts=yesterday", "since_ts"),
    ("since_ts before year 1 in UTC", "/logs?since_ts=0001-01-01T00:00:00%2B01:00", "since_ts"),
    ("bad tail", "/logs?tail=-3", "tail"),
    ("tail not a number", "/logs?tail=ten", "tail"),
    ("bad ttl", "/artifacts?ttl=0", "ttl"),
    ("bad last_event_id", "/progress/stream?last_event_id=abc", "last_event_id"),
]


def assert_envelope(response: Any, status: int, code: str, names: str) -> None:
    """`response`: an httpx response, from a server or the in-process client."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["correlation_id"] == response.headers["x-correlation-id"]
    assert names in error["message"] + str(error["details"])
    assert "Traceback" not in response.text
