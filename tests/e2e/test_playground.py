"""The playground page (`GET /`) and the API docs page in a real browser (Chromium driven by
Playwright, ADR 0042), against `dreamforge serve`.

One browser process serves the module; each test gets a fresh browser context (its own
session storage). Every page is checked to ask nothing of another origin: the requests the
page makes are recorded, and any to another origin is refused and fails the test. Each test
leaves a screenshot under test-results/playground/.

It is one module because its cases share the browser and the server, which cost seconds to
start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess
from tests.support.browser import browser_missing, chromium_path
from tests.support.demo import create_demo
from tests.support.playground_page import MockedJobs, Session, fill_job
from tests.support.tcp_proxy import TcpProxy

try:
    from playwright.sync_api import Browser, Playwright, sync_playwright
    from playwright.sync_api import expect as _expect
except ImportError:  # the dev extra is not installed: the fixture says so
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.embedded_only

#: Fast fake steps: a 3-image job of 8 steps takes about half a second.
FAKE_ENV = {"DREAMFORGE_FAKE_STEP_DELAY_S": "0.02"}
KEY = "playground-test-key"
SDXL_ENV = {
    "DREAMFORGE_RUNNER": "sdxl",
    "DREAMFORGE_RUNNER_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "DREAMFORGE_API_KEYS": KEY,
}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 900}
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        browser_missing("the Python package playwright is not installed (the dev extra)")
    path = chromium_path()
    if path is None:
        browser_missing("no Chromium found on PATH (nor DREAMFORGE_CHROMIUM)")
    with sync_playwright() as playwright:  # type: ignore[misc]
        launched = _launch(playwright, str(path))
        yield launched
        launched.close()


def _launch(playwright: Playwright, path: str) -> Browser:
    return playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("playground") / "server", FAKE_ENV)
    server.start()
    yield server
    server.stop(3)


@pytest.fixture
def session(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """session(server, viewport=DESKTOP) -> a Session; its screenshot is taken at teardown."""
    made: list[Session] = []

    def make(
        server: ServerProcess, viewport: dict[str, int] = DESKTOP, origin: str | None = None
    ) -> Session:
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(WAIT_MS)
        made.append(Session(context, origin or server.url, request.node.name))
        return made[-1]

    yield make
    for s in made:
        s.shot()
        s.context.close()
        assert s.foreign == [], f"the page asked another origin for {s.foreign}"


def expect(target: Any) -> Any:
    return _expect(target)


def test_the_page_loads_without_console_errors_and_builds_the_form_from_the_schema(
    session: Any, fake_server: ServerProcess
) -> None:
    s = session(fake_server, PHONE)
    response = s.page.goto(fake_server.url + "/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    page = s.page
    expect(page.get_by_label("Model")).to_have_value("fake-sdxl")
    prompt = page.get_by_label("Prompt", exact=True)
    expect(prompt).to_be_visible()
    # the rest is folded away, built from the model's bounds, enums and defaults
    width = page.get_by_label("Width", exact=True)
    expect(width).to_be_hidden()
    page.get_by_text("More settings").click()
    expect(width).to_have_attribute("min", "64")
    expect(width).to_have_attribute("step", "8")
    expect(page.get_by_label("Steps", exact=True)).to_have_value("30")
    scheduler = page.get_by_label("Scheduler", exact=True)
    expect(scheduler).to_have_value("dpmpp_2m_karras")
    assert "euler_a" in scheduler.locator("option").all_inner_texts()
    expect(page.get_by_label("Preset", exact=True).locator("option")).not_to_have_count(0)
    # every control has a label
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((c) => c.labels.length === 0 && !c.getAttribute('aria-label'))
            .map((c) => c.id || c.outerHTML)"""
    )
    assert unlabelled == []
    # nothing wider than a phone's screen
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert s.console_errors == []


def test_a_job_from_the_form_shows_progress_to_100_percent_and_its_images(
    session: Any, fake_server: ServerProcess
) -> None:
    s = session(fake_server)
    page = s.open()
    fill_job(
        page,
        "a lighthouse at dawn",
        Width="256",
        Height="256",
        Steps="8",
        **{"Number of images": "3"},
    )
    # two submissions at once, as a double click that beats the button's disabling
    page.evaluate("() => { const f = document.forms[0]; f.requestSubmit(); f.requestSubmit(); }")
    expect(page.locator("#job-state")).to_have_text("Finished")
    expect(page.locator("#job-percent")).to_have_text("100 %")
    expect(page.locator("#job-progress")).to_have_attribute("value", "100")
    cards = page.locator("#gallery .card")
    expect(cards).to_have_count(3)
    # each image with its seed and parameters, and a download link that serves it
    job_id = page.locator("#job-id").inner_text()
    artifacts = httpx.get(f"{fake_server.url}/v1/jobs/{job_id}/artifacts").json()["items"]
    seeds = sorted(str(a["seed"]) for a in artifacts)
    assert sorted(cards.locator(".seed").all_inner_texts()) == seeds
    expect(cards.first).to_contain_text("a lighthouse at dawn")
    expect(cards.first.locator("img")).to_have_js_property("naturalWidth", 256)
    href = cards.first.get_by_role("link", name="Download").get_attribute("href")
    assert href is not None
    assert httpx.get(href).content[:8] == b"\x89PNG\r\n\x1a\n"
    # both creations carried one Idempotency-Key: the second got the first's job back
    posts = [h for m, u, h in s.requests if m == "POST" and u.endswith("/v1/jobs")]
    assert len(posts) == 2
    assert len({h["idempotency-key"] for h in posts}) == 1
    answers = [(c, h) for m, u, c, h in s.responses if m == "POST" and u.endswith("/v1/jobs")]
    assert sorted(c for c, _ in answers) == [202, 202]
    assert sorted(h.get("idempotent-replayed", "") for _, h in answers) == ["", "true"]
    # the stream was read with fetch, each event once
    assert any(u.endswith("/progress/stream") for _, u, _ in s.requests)
    assert s.console_errors == []


def test_the_queue_position_shows_and_cancel_stops_a_running_job(
    session: Any, fake_server: ServerProcess
) -> None:
    s = session(fake_server)
    page = s.open()
    api = DreamForgeClient(fake_server.url)
    try:
        # a job of the API's own holds the worker: the page's job waits behind it
        ahead = api.create_job({"prompt": "ahead", "width": 64, "height": 64, "steps": 150})
        fill_job(page, "a slow one", Width="64", Height="64", Steps="100")
        page.get_by_label("Number of images", exact=True).fill("5")
        page.get_by_role("button", name="Generate").click()
        expect(page.locator("#job-state")).to_have_text("Queued: next to start")
        api.cancel(ahead["id"])
    finally:
        api.close()
    expect(page.locator("#job-state")).to_have_text("Running")
    expect(page.locator("#items li").first.locator("progress")).not_to_have_attribute("value", "0")
    page.get_by_role("button", name="Cancel job").press("Enter")  # keyboard operable
    expect(page.locator("#job-state")).to_have_text("Canceled")
    expect(page.get_by_role("button", name="Cancel job")).to_be_hidden()
    job_id = page.locator("#job-id").inner_text()
    job = httpx.get(f"{fake_server.url}/v1/jobs/{job_id}").json()
    assert job["state"] == "canceled"
    assert job["progress"] < 1


def test_the_stream_resumes_after_its_connection_drops(
    session: Any, fake_server: ServerProcess
) -> None:
    with TcpProxy(("127.0.0.1", fake_server.port)) as proxy:
        s = session(fake_server, origin=f"http://{proxy.address}")
        page = s.open()
        fill_job(page, "a dropped line", Width="64", Height="64", Steps="30")
        page.get_by_label("Number of images", exact=True).fill("3")
        page.get_by_role("button", name="Generate").click()
        expect(page.locator("#items li").first.locator("progress")).not_to_have_attribute(
            "value", "0"
        )
        proxy.down()  # every connection through it is cut, as by a network drop
        expect(page.locator("body")).to_have_attribute("data-stream", "lost")
        proxy.up()
        expect(page.locator("#job-state")).to_have_text("Finished")
        expect(page.locator("#job-percent")).to_have_text("100 %")
        expect(page.locator("#gallery .card")).to_have_count(3)
    resumed = [
        int(h["last-event-id"])
        for _, u, h in s.requests
        if u.endswith("/progress/stream") and "last-event-id" in h
    ]
    assert resumed, "the stream was opened again with Last-Event-ID"
    assert resumed[0] > 0


def test_a_bad_value_shows_the_servers_message_by_its_field(
    session: Any, fake_server: ServerProcess
) -> None:
    s = session(fake_server)
    page = s.open()
    fill_job(page, "a wrong size", Width="100", **{"Number of images": "0"})
    page.get_by_role("button", name="Generate").click()
    width = page.get_by_label("Width", exact=True)
    expect(width).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-width-error")).to_have_text("must be a multiple of 8")
    expect(page.locator("#f-count-error")).to_have_text("must be between 1 and 100")
    expect(page.locator("#f-steps-error")).to_have_text("")
    expect(page.locator("#job")).to_be_hidden()
    s.shot("-errors")
    # once fixed, the same form makes the job
    width.fill("64")
    page.get_by_label("Number of images", exact=True).fill("1")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#job-state")).to_have_text("Finished")
    expect(width).not_to_have_attribute("aria-invalid", "true")


def test_the_api_docs_page_renders_from_the_package_offline(
    session: Any, fake_server: ServerProcess
) -> None:
    s = session(fake_server)
    for path in ("/schema", "/schema/swagger"):
        response = s.page.goto(fake_server.url + path)
        assert response is not None
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        expect(s.page.locator(".swagger-ui .info .title")).to_contain_text("Dream Forge")
        expect(s.page.locator(".opblock-summary-path").first).to_be_visible()
    assert s.console_errors == []


@pytest.fixture(scope="module")
def sdxl_keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("playground-sdxl") / "data"
    create_demo(data_dir)
    server = ServerProcess(data_dir, SDXL_ENV)
    server.start()
    yield server
    server.stop(3)


def test_a_server_with_keys_asks_for_one_then_runs_the_sdxl_demo_model(
    session: Any, sdxl_keyed_server: ServerProcess
) -> None:
    s = session(sdxl_keyed_server, PHONE)
    page = s.open()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    page.get_by_label("API key", exact=True).fill("not-the-key")
    page.get_by_role("button", name="Use key").click()
    expect(dialog).to_contain_text("refused")
    page.get_by_label("API key", exact=True).fill(KEY)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.get_by_label("Model")).to_have_value(re.compile(r"^demo-sdxl-tiny"))
    fill_job(page, "a lighthouse at dawn", Width="64", Height="64", Steps="4")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#job-state")).to_have_text("Finished", timeout=120_000)
    expect(page.locator("#gallery .card img")).to_have_js_property("naturalWidth", 64)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # the key lives in this tab's session storage only
    assert page.evaluate("sessionStorage.getItem('dreamforge.apiKey')") == KEY
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []


def test_previews_and_the_image_actions_where_the_schema_offers_them(
    session: Any, fake_server: ServerProcess
) -> None:
    s = session(fake_server)
    mocked = MockedJobs(s.context, fake_server.url)
    page = s.open()
    page.get_by_text("More settings").click()
    expect(page.get_by_label("Live preview every N steps")).to_have_value("5")
    expect(page.get_by_label("Input strength")).to_have_value("0.75")
    page.get_by_label("Prompt", exact=True).fill("a fox")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#job-state")).to_have_text("Finished")
    preview = page.get_by_role("img", name="Live preview of image 1")
    expect(preview).to_have_attribute("src", mocked.preview)
    card = page.locator('#gallery .card[data-job="mock-1"]')
    expect(card.locator(".seed")).to_have_text("1235")
    assert mocked.created[0]["params"] == {"prompt": "a fox", "preview_every": 5}
    # "use as input": the next job starts from that image
    card.get_by_role("button", name="Use as input").click()
    expect(page.locator("#input-image")).to_contain_text("artifact:mock-1/0")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#job-id")).to_have_text("mock-2")
    assert mocked.created[1]["params"]["init_image"] == "artifact:mock-1/0"
    # "upscale": the image's own parameters and seed remake it, and the upscale step enlarges it
    card.get_by_role("button", name="Upscale").click()
    expect(page.locator("#job-id")).to_have_text("mock-3")
    upscale = mocked.created[2]["params"]
    assert upscale["upscale"] == {"factor": 2, "strength": 0.5, "steps": upscale["steps"]}
    assert (upscale["seed"], upscale["count"]) == (1235, 1)
    assert "init_image" not in upscale
    # ... in a request the real server takes (the stand-in above answers for it)
    taken = httpx.post(f"{fake_server.url}/v1/jobs", json={"params": upscale})
    assert taken.status_code == 202, taken.text
    assert s.console_errors == []
