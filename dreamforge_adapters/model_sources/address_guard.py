"""Which hosts a download may reach: no redirect or published URL may lead it into the
networks the server itself sits in (loopback services, the private network, the cloud
metadata service at 169.254.169.254).

A request to the configured endpoint's own host is always allowed: the operator chose it.
Any other host is resolved first, and each of its addresses must be public, or of a kind the
endpoint's own addresses have (a hub mirror on 10.0.0.5 may redirect within the private
network; a test hub on 127.0.0.1 to loopback). Requests follow redirects one hop at a time
(`guarded_get`), so every hop is checked before it is sent.

The check resolves the name itself and the connection resolves it again: a name whose answer
changes in between (DNS rebinding) is not covered; neither are hosts reached through a proxy.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import httpx

from dreamforge_adapters.model_sources.http_details import display_url
from dreamforge_adapters.model_sources.remote_files import RefusedAddress
from dreamforge_core.domain.addresses import PRIVATE, address_kind

#: host, port -> the addresses a connection to it would use.
Resolver = Callable[[str, int], list[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `getaddrinfo` gives; none when the name does not resolve (the
    connection then fails on its own)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


class AddressGuard:
    """Refuses URLs whose host leads where the endpoint's may not (module docstring)."""

    def __init__(self, endpoint: str, resolve: Resolver = system_resolver) -> None:
        url = httpx.URL(endpoint)
        self._endpoint = url
        self._resolve = resolve
        self._allowed: frozenset[str] | None = None  # resolved on first use, not offline
        self._lock = threading.Lock()

    def allowed_kinds(self) -> frozenset[str]:
        with self._lock:
            if self._allowed is None:
                addresses = self._resolve(self._endpoint.host, _port(self._endpoint))
                self._allowed = frozenset(
                    kind for kind in map(_kind_or_private, addresses) if kind is not None
                )
            return self._allowed

    def check(self, url: httpx.URL) -> None:
        host = url.host.lower()
        if host == self._endpoint.host.lower():
            return
        allowed = self.allowed_kinds()
        for address in self._resolve(host, _port(url)):
            kind = _kind_or_private(address)
            if kind is not None and kind not in allowed:
                raise RefusedAddress(
                    f"refused to download from {display_url(str(url))}: {host} is {address}, "
                    f"a {kind} address, which {self._endpoint.host} may not lead to",
                    details={"host": host, "address": address, "kind": kind},
                )


def _kind_or_private(address: str) -> str | None:
    try:
        return address_kind(address)
    except ValueError:  # not an IP address at all: never public
        return PRIVATE


def _port(url: httpx.URL) -> int:
    return url.port or _DEFAULT_PORTS.get(url.scheme, 443)


@contextmanager
def guarded_get(
    client: httpx.Client,
    url: str,
    *,
    guard: AddressGuard | None,
    timeout: httpx.Timeout | float,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> Iterator[httpx.Response]:
    """GET `url` as a stream, following redirects one hop at a time so that the guard sees
    each host before it is asked. httpx builds each next request, dropping the token when
    the redirect leaves the origin."""
    request = client.build_request("GET", url, headers=headers, params=params, timeout=timeout)
    for _ in range(client.max_redirects + 1):
        if guard is not None:
            guard.check(request.url)
        response = client.send(request, stream=True, follow_redirects=False)
        if response.next_request is None:
            try:
                yield response
            finally:
                response.close()
            return
        response.close()
        request = response.next_request
    raise httpx.TooManyRedirects(f"more than {client.max_redirects} redirects", request=request)
