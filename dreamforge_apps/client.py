"""A small client of the HTTP API, used by `dreamforge generate` and the tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class SseEvent:
    id: int | None
    event: str
    data: dict[str, Any]


class ApiError(Exception):
    """An error answer; `body` is its envelope, or one made up for an answer that carries
    none (a proxy's error page, or a server that is not Dream Forge at all)."""

    def __init__(self, status: int, body: dict[str, Any], url: str = "") -> None:
        error = body.get("error", {})
        self.code: str | None = error.get("code")
        self.message = str(error.get("message", ""))
        super().__init__(f"{status} {self.code}: {self.message}")
        self.status = status
        self.body = body
        self.url = url

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """`code` is None when the answer has no envelope; `message` is then its reason."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
            body = {"error": {"code": None, "message": response.reason_phrase}}
        return cls(response.status_code, body, str(response.request.url))


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Yields complete events; comment lines (keep-alives) and `retry:` are skipped."""
    event_id: int | None = None
    name = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield SseEvent(event_id, name, json.loads("\n".join(data)))
            event_id, name, data = None, "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                event_id = int(value)
            elif field == "event":
                name = value
            elif field == "data":
                data.append(value)


class DreamForgeClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        try:
            body: dict[str, Any] = response.json()
        except ValueError:  # not the API: some other server on that port
            raise ApiError.from_response(response) from None
        return body

    def create_job(
        self,
        params: dict[str, Any],
        *,
        model_id: str | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """`fields`: further top-level fields of the body (`priority`, `webhook`, …)."""
        body: dict[str, Any] = {"params": params, **fields}
        if model_id:
            body["model_id"] = model_id
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json(self.http.post("/v1/jobs", json=body, headers=headers))

    def job(self, job_id: str) -> dict[str, Any]:
        return self._json(self.http.get(f"/v1/jobs/{job_id}"))

    def logs(self, job_id: str) -> list[dict[str, Any]]:
        """The job's whole log, one dict per NDJSON line, oldest first."""
        response = self.http.get(f"/v1/jobs/{job_id}/logs")
        if response.status_code >= 400:
            self._json(response)  # raises ApiError
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def cancel(self, job_id: str) -> dict[str, Any]:
        """The job, canceled (now or before); a finished job raises ApiError 409."""
        return self._json(self.http.post(f"/v1/jobs/{job_id}/cancel"))

    def artifacts(self, job_id: str, ttl: int | None = None) -> list[dict[str, Any]]:
        params = {"ttl": ttl} if ttl else {}
        items: list[dict[str, Any]] = self._json(
            self.http.get(f"/v1/jobs/{job_id}/artifacts", params=params)
        )["items"]
        return items

    def stream(self, job_id: str, last_event_id: int | None = None) -> Iterator[SseEvent]:
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id else {}
        with self.http.stream(
            "GET",
            f"/v1/jobs/{job_id}/progress/stream",
            headers=headers,
            timeout=httpx.Timeout(10.0, read=None),
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError.from_response(response)
            yield from parse_sse(response.iter_lines())

    def download(self, url: str) -> bytes:
        response = httpx.get(url, timeout=60.0)
        response.raise_for_status()
        return response.content
