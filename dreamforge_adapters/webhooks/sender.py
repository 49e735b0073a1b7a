"""Posting webhook messages with httpx, to addresses checked after resolving.

The check and the connection use the same answer: the request goes to the checked address
(the URL's host stays in the `Host` header and, for https, in the TLS server name and the
certificate check), so a name that resolves elsewhere the second time (DNS rebinding) cannot
lead a delivery into the server's own networks. Redirects are not followed: a 3xx answer is a
failed attempt like any other non-2xx.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping

import httpx

from dreamforge_core.domain.addresses import refused_address
from dreamforge_core.errors import Unavailable
from dreamforge_core.ports.webhooks import RefusedTarget, WebhookSender, WebhookTargets

#: host, port -> the addresses a connection to it would use.
Resolver = Callable[[str, int], list[str]]
_DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "dreamforge-webhooks/1"


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `getaddrinfo` gives; none when the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class HttpWebhooks(WebhookTargets, WebhookSender):
    """`allow_private` lets webhooks reach loopback, private and link-local addresses (tests,
    closed networks); names must still resolve."""

    def __init__(self, *, allow_private: bool = False, resolve: Resolver = system_resolver):
        self.allow_private = allow_private
        self._resolve = resolve
        self._client = httpx.Client(
            follow_redirects=False, trust_env=False, headers={"user-agent": USER_AGENT}
        )

    def check(self, url: str) -> None:
        self._addresses(httpx.URL(url))

    def post(self, url: str, headers: Mapping[str, str], body: str, timeout_s: float) -> int:
        target = httpx.URL(url)
        address = self._addresses(target)[0]
        pinned = target.copy_with(host=address)
        sent = {**headers, "host": _host_header(target)}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            request = self._client.build_request(
                "POST", pinned, headers=sent, content=body.encode(), extensions=extensions,
                timeout=timeout_s,
            )  # fmt: skip
            response = self._client.send(request, stream=True)
            response.close()  # the status is all an attempt needs
        except httpx.TimeoutException:
            raise Unavailable(f"no answer within {timeout_s:g} s") from None
        except httpx.HTTPError as e:
            raise Unavailable(f"could not reach the target: {e}") from None
        return response.status_code

    def close(self) -> None:
        self._client.close()

    def _addresses(self, url: httpx.URL) -> list[str]:
        host = url.host
        addresses = self._resolve(host, url.port or _DEFAULT_PORTS.get(url.scheme, 443))
        if not addresses:
            raise RefusedTarget(f"the host {host} does not resolve", details={"host": host})
        refused = None if self.allow_private else refused_address(addresses)
        if refused is not None:
            address, kind = refused
            what = f"{host} is" if host == address else f"{host} is {address},"
            raise RefusedTarget(
                f"the host {what} a {kind} address, which webhooks may not reach on this server",
                details={"host": host, "address": address, "kind": kind},
            )
        return addresses


def _host_header(url: httpx.URL) -> str:
    default = _DEFAULT_PORTS.get(url.scheme)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port in (None, default) else f"{host}:{url.port}"
