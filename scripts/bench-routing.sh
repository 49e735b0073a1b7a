#!/usr/bin/env bash
# Runs `dreamforge bench routing` on this machine: a fresh Postgres database on the local
# server (dropped afterwards), the local Redis (private namespaces, removed afterwards) and a
# SeaweedFS S3 server started here on free ports (stopped afterwards).
# Arguments go to `dreamforge bench routing`, e.g. scripts/bench-routing.sh --jobs 200
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/stack-services.sh
stack_services_run -m dreamforge_apps.cli bench routing "$@"
