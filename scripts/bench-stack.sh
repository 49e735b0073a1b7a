#!/usr/bin/env bash
# Runs `dreamforge bench stack` on this machine: a fresh Postgres database on the local server
# (dropped afterwards), the local Redis (the bench uses a private namespace and removes it),
# and a SeaweedFS S3 server started here on free ports (stopped afterwards).
# Arguments go to `dreamforge bench stack`, e.g. scripts/bench-stack.sh --json-out out.json
#
# Environment: see scripts/lib/stack-services.sh; DREAMFORGE_* settings pass through,
# e.g. DREAMFORGE_WORKER_POLL_MS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/stack-services.sh
stack_services_run -m dreamforge_apps.cli bench stack "$@"
