"""The playground page in a browser context: what the page asked of whom, what it logged, and
stand-ins for API answers the server under test does not give."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from PIL import Image

from tests.support.browser import screenshot_dir

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page


class Session:
    """One browser context on one server: its page, console errors and foreign requests."""

    def __init__(self, context: BrowserContext, origin: str, name: str) -> None:
        self.context = context
        self.origin = origin
        self.name = name
        self.console_errors: list[str] = []
        self.foreign: list[str] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.responses: list[tuple[str, str, int, dict[str, str]]] = []
        context.route("**/*", self._only_own_origin)
        self.page: Page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.console_errors.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append((r.method, r.url, r.headers)))
        self.page.on(
            "response",
            lambda r: self.responses.append((r.request.method, r.url, r.status, r.headers)),
        )

    def _only_own_origin(self, route: Any) -> None:
        url = route.request.url
        if url.startswith((self.origin + "/", "data:", "blob:")):
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def open(self, path: str = "/") -> Page:
        self.page.goto(self.origin + path)
        return self.page

    def shot(self, suffix: str = "") -> Path:
        path = screenshot_dir("playground") / f"{self.name}{suffix}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def fill_job(page: Page, prompt: str, **settings: str) -> None:
    """Types the prompt, opens "More settings" and sets each named field by its label."""
    page.get_by_label("Prompt", exact=True).fill(prompt)
    if settings:
        page.get_by_text("More settings").click()
    for label, value in settings.items():
        page.get_by_label(label, exact=True).fill(value)


def _png_data_url(size: int) -> str:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 120, 40)).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


#: What a model whose schema offers images in, upscaling and previews adds to the fake's.
IMAGE_FIELDS = {
    "init_image": {"type": "string"},
    "strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.75},
    "upscale": {
        "type": "object",
        "properties": {"factor": {"type": "number", "minimum": 1.5, "maximum": 2, "default": 2}},
    },
    "preview_every": {"type": "integer", "minimum": 1},
}


class MockedJobs:
    """Stands in for the API where the model's schema offers more than this server does:
    `/v1/models` gains IMAGE_FIELDS, and the jobs answer from here, their stream included."""

    def __init__(self, context: BrowserContext, origin: str) -> None:
        self.origin = origin
        self.created: list[dict[str, Any]] = []
        model = httpx.get(f"{origin}/v1/models").json()["items"][0]
        model["parameters_schema"]["properties"].update(IMAGE_FIELDS)
        self.models = {"items": [model]}
        self.preview = _png_data_url(8)
        self.image = _png_data_url(64)
        context.route(f"{origin}/v1/**", self._answer)

    def _job(self, n: int, state: str) -> dict[str, Any]:
        base = f"/v1/jobs/mock-{n}"
        params = {**self.created[n - 1]["params"], "steps": 10, "seed": None}
        return {
            "id": f"mock-{n}",
            "state": state,
            "count": 1,
            "progress": 1.0 if state == "succeeded" else 0.0,
            "params": params,
            "model_id": self.models["items"][0]["id"],
            "queue_position": 0 if state == "queued" else None,
            "links": {
                "self": base,
                "artifacts": f"{base}/artifacts",
                "stream": f"{base}/progress/stream",
            },
        }

    def _stream(self, n: int) -> str:
        artifact = {"id": f"a{n}", "item_index": 0, "seed": 1234 + n, "width": 64, "height": 64}
        events = [
            ("1", "state", {"state": "running"}),
            ("2", "progress", {"item_index": 0, "item_progress": 0.5, "progress": 0.5}),
            (None, "preview", {"item_index": 0, "step": 5, "total": 10, "image": self.preview}),
            ("3", "artifact", {"item_index": 0, "artifact": artifact}),
            ("4", "end", {"state": "succeeded"}),
        ]
        return "".join(
            (f"id: {i}\n" if i else "") + f"event: {e}\ndata: {json.dumps(d)}\n\n"
            for i, e, d in events
        )

    def _answer(self, route: Any) -> None:
        request = route.request
        path = request.url.removeprefix(self.origin).split("?")[0]
        if path == "/v1/models":
            route.fulfill(json=self.models)
        elif path == "/v1/jobs" and request.method == "POST":
            self.created.append(json.loads(request.post_data or "{}"))
            route.fulfill(status=202, json=self._job(len(self.created), "queued"))
        elif match := re.fullmatch(r"/v1/jobs/mock-(\d+)(/.*)?", path):
            n, rest = int(match.group(1)), match.group(2) or ""
            if rest == "/progress/stream":
                route.fulfill(body=self._stream(n), content_type="text/event-stream")
            elif rest == "/artifacts":
                item = {"id": f"a{n}", "item_index": 0, "seed": 1234 + n, "width": 64}
                item |= {"height": 64, "format": "png", "step": "generate", "url": self.image}
                route.fulfill(json={"items": [item]})
            else:
                route.fulfill(json=self._job(n, "succeeded"))
        else:
            route.continue_()
