"""Who sends a request, as far as the rules care: which API key (by fingerprint, never the key
itself) and whether that key may run admin actions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def key_fingerprint(api_key: str) -> str:
    """The sha256 of an API key: what is stored to tell keys apart, never the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    #: sha256 of the caller's API key; "" when the server has no keys (one caller: everyone)
    key_fingerprint: str = ""
    #: may run admin actions, such as `model_download` jobs
    admin: bool = False

    @classmethod
    def with_key(cls, api_key: str, *, admin: bool) -> Caller:
        return cls(key_fingerprint(api_key), admin)


#: A server with no API keys listens on loopback only (unless told otherwise): whoever reaches
#: it is its operator, so every action the configuration offers is open to them.
KEYLESS = Caller("", admin=True)
