"""Bind rules: beyond loopback only with keys (admin keys count) or when told explicitly."""

from __future__ import annotations

import pytest

from dreamforge_apps.http_server import UnsafeBind, check_bind
from dreamforge_apps.settings import Settings


def _settings(**values: object) -> Settings:
    unset: dict[str, object] = {
        "api_keys": None,
        "admin_api_keys": None,
        "allow_insecure_bind": False,
    }
    return Settings(_env_file=None, **{**unset, **values})  # type: ignore[arg-type]


@pytest.mark.parametrize("keys", [{"api_keys": "k1"}, {"admin_api_keys": "boss"}])
def test_any_key_allows_a_public_bind(keys: dict[str, str]) -> None:
    check_bind("0.0.0.0", _settings(**keys))


def test_no_key_refuses_a_public_bind_but_not_loopback() -> None:
    with pytest.raises(UnsafeBind, match="API keys"):
        check_bind("0.0.0.0", _settings())
    check_bind("127.0.0.1", _settings())
    check_bind("0.0.0.0", _settings(allow_insecure_bind=True))
