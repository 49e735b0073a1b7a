"""The `Host` names a server without API keys answers (against DNS rebinding).

A web page can point a name of its own at 127.0.0.1 in DNS; the user's browser then sends
the page's requests to a server on loopback and lets the page read the answers, because to
the browser they come from the page's own origin. Such requests still carry the page's name
in `Host`, so a server that has no API keys answers only requests that name it as loopback.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

# host [":" port], the host a bracketed IPv6 literal or a name or IPv4 address (RFC 9110 7.2)
_HOST = re.compile(r"(?:\[(?P<ipv6>[0-9a-fA-F:.]+)\]|(?P<name>[^\[\]:]+))(?::[0-9]*)?", re.ASCII)


class LoopbackHosts:
    """Accepts `localhost`, `*.localhost`, 127.0.0.0/8 and [::1] with an optional port, and
    the names given (such as the host of the public URL a reverse proxy forwards)."""

    def __init__(self, also: Iterable[str] = ()) -> None:
        self._also = frozenset(name.lower() for name in also)

    def allow(self, values: list[bytes]) -> bool:
        """Whether a request whose `Host` headers are `values` may be answered: exactly one,
        naming loopback or one of the names given."""
        if len(values) != 1:
            return False
        try:
            found = _HOST.fullmatch(values[0].decode("ascii"))
        except UnicodeDecodeError:
            return False
        if found is None:
            return False
        if found["ipv6"] is not None:
            return _loopback_address(found["ipv6"], version=6)
        name = found["name"].lower()
        if name == "localhost" or name.endswith(".localhost") or name in self._also:
            return True
        return _loopback_address(name, version=4)


def _loopback_address(text: str, version: int) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.version == version and address.is_loopback
