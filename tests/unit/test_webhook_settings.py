"""The webhook settings: a secret must be a Standard Webhooks secret, a bad one is reported
without being echoed, and `dreamforge config webhook-secret` makes one that works."""

from __future__ import annotations

import time

import pytest
import standardwebhooks
from click.testing import CliRunner
from pydantic import ValidationError

from dreamforge_apps.cli import main
from dreamforge_apps.cli.errors import explain
from dreamforge_apps.settings import Settings
from dreamforge_core.domain.webhooks import signed_headers


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("s3cr3t-value", "starts with 'whsec_'"),
        ("whsec_not base64!", "must be base64"),
        ("whsec_c2hvcnQ=", "at least 24 bytes"),
    ],
)
def test_a_bad_secret_is_refused_and_never_echoed(secret: str, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(webhook_secret=secret)
    failed = explain(refused.value, None)
    assert failed is not None
    assert "DREAMFORGE_WEBHOOK_SECRET=(hidden)" in str(failed)
    assert problem in str(failed)
    assert secret not in str(failed)


def test_an_empty_secret_leaves_webhooks_off() -> None:
    assert Settings(webhook_secret="").webhook_key is None
    assert Settings().webhook_key is None


def test_the_command_makes_a_secret_that_signs_and_verifies() -> None:
    result = CliRunner().invoke(main, ["config", "webhook-secret"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    key = Settings(webhook_secret=secret).webhook_key
    assert key is not None
    assert len(key) == 32
    headers = signed_headers(key, "msg_1", int(time.time()), '{"type": "job.completed"}')
    verified = standardwebhooks.Webhook(secret).verify('{"type": "job.completed"}', headers)
    assert verified == {"type": "job.completed"}
