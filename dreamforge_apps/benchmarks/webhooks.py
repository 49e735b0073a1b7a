"""`dreamforge bench webhooks`: how soon a job's end reaches its webhook receiver, and that a
receiver that fails its first answers still gets each event exactly once.

Latency = from the job's end (the `timestamp` of its `job.completed` message: the moment the
job became terminal) to the moment a local receiver has the whole request, both on this
machine's clock. It covers storing the message with the job's last write, the deliverer
noticing it (it looks every 100 ms), signing, and the POST.

The second run's receiver answers 500 to the first three attempts of every message and 204
to the fourth; each event must then be accepted exactly once, after exactly four attempts,
all under one `webhook-id`. The server this command starts waits `--retry-base` seconds
after a first failure (the product default is 5 s), so the run takes seconds, not a minute.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from dreamforge_apps.benchmarks.api import pct_ms
from dreamforge_apps.benchmarks.machine import machine_facts
from dreamforge_apps.benchmarks.servers import deployment_server
from dreamforge_apps.benchmarks.webhook_receiver import Attempt, WebhookReceiver, signature_check
from dreamforge_apps.client import DreamForgeClient

QUICK = {"prompt": "a lighthouse", "count": 1, "width": 64, "height": 64, "steps": 2}
STEP_DELAY_S = 0.001
FAIL_FIRST = 3
WAIT_S = 300.0


def _latencies(accepted: list[Attempt]) -> list[float]:
    return [
        a.received_at - datetime.fromisoformat(a.body["timestamp"]).timestamp() for a in accepted
    ]


def _send(client: DreamForgeClient, url: str, jobs: int) -> list[str]:
    return [client.create_job(QUICK, webhook=url)["id"] for _ in range(jobs)]


def _exactly_once(receiver: WebhookReceiver, job_ids: list[str]) -> dict[str, Any]:
    """Waits for one accepted message per job, then a while longer for any repeat."""
    receiver.wait_for(len(job_ids), WAIT_S)
    time.sleep(2.0)  # a repeat would come within the retry waits of this run
    accepted = receiver.accepted()
    per_message = Counter(a.message_id for a in accepted)
    attempts = Counter(a.message_id for a in receiver.attempts)
    jobs_told = sorted(a.body["data"]["id"] for a in accepted)
    problems = []
    if jobs_told != sorted(job_ids):
        problems.append("the accepted messages are not one per job")
    if any(n != 1 for n in per_message.values()):
        problems.append("a message was accepted more than once")
    if set(attempts.values()) != {FAIL_FIRST + 1}:
        problems.append(f"attempts per message: {sorted(set(attempts.values()))}")
    if receiver.bad_signatures:
        problems.append(f"{receiver.bad_signatures} deliveries had a bad signature")
    if problems:
        raise click.ClickException("; ".join(problems))
    waits = _latencies(accepted)
    return {
        "events": len(accepted),
        "accepted_once": True,
        "attempts_per_event": FAIL_FIRST + 1,
        "end_to_accepted_p50_s": round(sorted(waits)[len(waits) // 2], 2),
    }


def run_bench_webhooks(
    deployment: str, jobs: int, failing_jobs: int, retry_base_s: float, json_out: Path | None
) -> None:
    key = os.urandom(32)
    secret = "whsec_" + base64.b64encode(key).decode()
    env = {
        "DREAMFORGE_WEBHOOK_SECRET": secret,
        "DREAMFORGE_WEBHOOK_ALLOW_PRIVATE": "true",  # the receivers are on loopback
        "DREAMFORGE_WEBHOOK_RETRY_BASE_S": str(retry_base_s),
    }
    machine = machine_facts()
    click.echo(
        f"machine: {machine['cpus']} x {machine['cpu_model']}, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}; {deployment}, fake runner, {jobs} jobs"
    )
    verify = signature_check(key)
    with (
        WebhookReceiver(verify) as fast,
        WebhookReceiver(verify, fail_first=FAIL_FIRST) as failing,
        deployment_server(
            deployment, env, step_delay_s=STEP_DELAY_S, prefix="dreamforge-bench-webhooks-"
        ) as url,
    ):
        client = DreamForgeClient(url)
        warm = _send(client, fast.url, 1)
        fast.wait_for(1, WAIT_S)
        ids = _send(client, fast.url, jobs)
        accepted = [a for a in fast.wait_for(jobs + 1, WAIT_S) if a.body["data"]["id"] not in warm]
        latencies = _latencies(accepted)
        retried = _exactly_once(failing, _send(client, failing.url, failing_jobs))
        client.close()
    if sorted(a.body["data"]["id"] for a in accepted) != sorted(ids):
        raise click.ClickException("the receiver did not get one message per job")
    figures = {
        "deployment": deployment,
        "jobs": jobs,
        "end_to_2xx_p50_ms": pct_ms(latencies, 0.5),
        "end_to_2xx_p99_ms": pct_ms(latencies, 0.99),
        "end_to_2xx_max_ms": pct_ms(latencies, 1.0),
        "failing_receiver": retried | {"jobs": failing_jobs, "retry_base_s": retry_base_s},
        "machine": machine,
    }
    click.echo(
        f"  job end -> receiver 2xx: p50 {figures['end_to_2xx_p50_ms']} ms, "
        f"p99 {figures['end_to_2xx_p99_ms']} ms, max {figures['end_to_2xx_max_ms']} ms "
        f"({len(latencies)} jobs)"
    )
    click.echo(
        f"  receiver failing the first {FAIL_FIRST} answers: {retried['events']} events, each "
        f"accepted exactly once after {FAIL_FIRST + 1} attempts under one webhook-id "
        f"(end -> accepted p50 {retried['end_to_accepted_p50_s']} s, retry base {retry_base_s} s)"
    )
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2) + "\n")
