#!/usr/bin/env bash
# `make fuzz`: Schemathesis against the production stack (tests/fuzz/run.py) on a fresh
# Postgres database, the local Redis (private namespace) and a SeaweedFS S3 server started
# here, all removed afterwards. Arguments go to tests/fuzz/run.py, e.g.
# scripts/fuzz.sh --max-examples 10 --seed 1
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/stack-services.sh
stack_services_run -m tests.fuzz.run "$@"
