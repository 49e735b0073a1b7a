#!/usr/bin/env bash
# Runs `dreamforge bench webhooks --deployment stack` on this machine's services, as
# scripts/bench-stack.sh does: a fresh Postgres database (dropped afterwards), a private Redis
# namespace and a SeaweedFS S3 server on free ports. Arguments go to the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/stack-services.sh
stack_services_run -m dreamforge_apps.cli bench webhooks --deployment stack "$@"
