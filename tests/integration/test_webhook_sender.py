"""The webhook sender over real sockets: where it may post (checked after resolving, on the
address it then connects to), that it follows no redirect, and how it reports no answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dreamforge_adapters.webhooks.sender import HttpWebhooks
from dreamforge_core.errors import Unavailable
from dreamforge_core.ports.webhooks import RefusedTarget


class Receiver:
    """Answers POST /ok with 204, /moved with a redirect to /ok, /slow after 2 s."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # path, Host header
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.requests.append((self.path, self.headers.get("host", "")))
                if self.path == "/slow":
                    time.sleep(2)
                status = 302 if self.path == "/moved" else 204
                self.send_response(status)
                if status == 302:
                    self.send_header("location", "/ok")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


def resolver(table: dict[str, list[str]]) -> Any:
    return lambda host, port: table.get(host, [])


@pytest.mark.parametrize(
    ("addresses", "kind"),
    [
        (["127.0.0.1"], "loopback"),
        (["::1"], "loopback"),
        (["10.1.2.3"], "private"),
        (["192.168.0.7"], "private"),
        (["169.254.169.254"], "link-local"),  # the cloud metadata service
        (["::ffff:10.0.0.1"], "private"),
        (["93.184.216.34", "172.16.0.1"], "private"),  # one bad answer is enough
    ],
)
def test_a_host_that_resolves_into_the_servers_networks_is_refused(
    addresses: list[str], kind: str
) -> None:
    hooks = HttpWebhooks(resolve=resolver({"hooks.example.com": addresses}))
    with pytest.raises(RefusedTarget, match=f"a {kind} address"):
        hooks.check("https://hooks.example.com/x")
    HttpWebhooks(allow_private=True, resolve=resolver({"hooks.example.com": addresses})).check(
        "https://hooks.example.com/x"
    )


def test_a_public_host_passes_and_a_name_that_does_not_resolve_is_refused() -> None:
    hooks = HttpWebhooks(resolve=resolver({"hooks.example.com": ["93.184.216.34"]}))
    hooks.check("https://hooks.example.com/x")
    with pytest.raises(RefusedTarget, match="does not resolve"):
        hooks.check("https://nowhere.example.com/x")


def test_a_post_goes_to_the_address_that_was_checked(receiver: Receiver) -> None:
    # `hooks.test` resolves nowhere but here: the request reached the checked address, with
    # the URL's own host in its Host header
    hooks = HttpWebhooks(allow_private=True, resolve=resolver({"hooks.test": ["127.0.0.1"]}))
    status = hooks.post(f"http://hooks.test:{receiver.port}/ok", {"webhook-id": "m"}, "{}", 5)
    assert status == 204
    assert receiver.requests == [("/ok", f"hooks.test:{receiver.port}")]


def test_an_answer_that_changes_to_a_private_address_is_refused_before_sending(
    receiver: Receiver,
) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # public at creation, then rebound
    hooks = HttpWebhooks(resolve=lambda host, port: next(answers))
    url = f"http://hooks.test:{receiver.port}/ok"
    hooks.check(url)
    with pytest.raises(RefusedTarget, match="loopback"):
        hooks.post(url, {}, "{}", 5)
    assert receiver.requests == []


def test_a_redirect_is_an_answer_not_a_hop(receiver: Receiver) -> None:
    hooks = HttpWebhooks(allow_private=True)
    assert hooks.post(f"http://127.0.0.1:{receiver.port}/moved", {}, "{}", 5) == 302
    assert [path for path, _ in receiver.requests] == ["/moved"]


def test_no_answer_within_the_time_out_is_unavailable(receiver: Receiver) -> None:
    hooks = HttpWebhooks(allow_private=True)
    with pytest.raises(Unavailable, match=r"no answer within 0\.5 s"):
        hooks.post(f"http://127.0.0.1:{receiver.port}/slow", {}, "{}", 0.5)
