#!/usr/bin/env bash
# `make soak`: `dreamforge bench soak` on a fresh Postgres database, the local Redis (private
# namespace) and a SeaweedFS S3 server started here, all removed afterwards. Arguments go to
# the command, e.g. scripts/soak.sh --jobs 500
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/stack-services.sh
stack_services_run -m dreamforge_apps.cli bench soak "$@"
