#!/usr/bin/env bash
# Runs `dreamforge bench stack` on this machine: a fresh Postgres database on the local server
# (dropped afterwards), the local Redis (the bench uses a private namespace and removes it),
# and a SeaweedFS S3 server started here on free ports (stopped afterwards).
# Arguments go to `dreamforge bench stack`, e.g. scripts/bench-stack.sh --json-out out.json
#
# Environment: BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432),
# BENCH_REDIS_URL (default redis://127.0.0.1:6379/0); DREAMFORGE_* settings pass through,
# e.g. DREAMFORGE_WORKER_POLL_MS.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
POSTGRES=${BENCH_POSTGRES:-postgresql://postgres@127.0.0.1:5432}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}
DB="dreamforge_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
WORK=$(mktemp -d -t dreamforge-bench-stack-XXXXXX)
SEAWEED_PID=""

cleanup() {
    set +e
    if [ -n "$SEAWEED_PID" ]; then
        kill "$SEAWEED_PID" 2>/dev/null
        wait "$SEAWEED_PID" 2>/dev/null
    fi
    psql "$POSTGRES/postgres" -qAt -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

psql "$POSTGRES/postgres" -qAt -c "CREATE DATABASE \"$DB\"" >/dev/null
echo "Postgres: database $DB on $POSTGRES (dropped afterwards)"

# SeaweedFS through the test helper: it picks free ports and writes the keys; this python
# process holds the server and stops it (and removes its sockets) on SIGTERM.
"$PY" - "$WORK" >"$WORK/s3.log" 2>&1 <<'EOF' &
import signal, sys, threading
from pathlib import Path
from tests.support.seaweed import SeaweedS3

work = Path(sys.argv[1])
s3 = SeaweedS3(work / "seaweed")
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
s3.start()
try:
    (work / "s3.part").write_text(f"{s3.endpoint} {s3.access_key} {s3.secret_key}\n")
    (work / "s3.part").rename(work / "s3.ready")  # appears whole or not at all
    stop.wait()
finally:
    s3.stop()
EOF
SEAWEED_PID=$!
# Waits for the address, but not for a helper that died (no venv, no weed binary, ...).
for _ in $(seq 600); do
    if [ -e "$WORK/s3.ready" ] || ! kill -0 "$SEAWEED_PID" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if ! read -r S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY <"$WORK/s3.ready" 2>/dev/null; then
    echo "SeaweedFS did not start:" >&2
    cat "$WORK/s3.log" >&2
    exit 1
fi
echo "S3: SeaweedFS at $S3_ENDPOINT (pid $SEAWEED_PID, stopped afterwards)"
echo "Redis: $REDIS_URL"

set +e
DREAMFORGE_DATABASE_URL="$POSTGRES/$DB" \
DREAMFORGE_REDIS_URL="$REDIS_URL" \
DREAMFORGE_S3_ENDPOINT="$S3_ENDPOINT" \
DREAMFORGE_S3_ACCESS_KEY="$S3_ACCESS_KEY" \
DREAMFORGE_S3_SECRET_KEY="$S3_SECRET_KEY" \
    "$PY" -m dreamforge_apps.cli bench stack "$@"
status=$?
set -e
exit "$status"
