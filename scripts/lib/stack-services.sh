# Sourced by the scripts that start the production stack (bench-stack.sh, fuzz.sh, soak.sh):
# `stack_services_up` makes a fresh Postgres database on the local server and starts a
# SeaweedFS S3 server on free ports, exports the DREAMFORGE_* settings that name them and the
# local Redis, and removes both on exit. The stack itself (api + worker, private Redis
# namespace, fresh bucket) is started by the Python command that follows.
#
# Environment: BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432),
# BENCH_REDIS_URL (default redis://127.0.0.1:6379/0).

PY=${PY:-.venv/bin/python}
POSTGRES=${BENCH_POSTGRES:-postgresql://postgres@127.0.0.1:5432}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}
STACK_DB="dreamforge_stack_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
STACK_WORK=$(mktemp -d -t dreamforge-stack-XXXXXX)
SEAWEED_PID=""

stack_services_down() {
    set +e
    if [ -n "$SEAWEED_PID" ]; then
        kill "$SEAWEED_PID" 2>/dev/null
        wait "$SEAWEED_PID" 2>/dev/null
    fi
    psql "$POSTGRES/postgres" -qAt -c "DROP DATABASE IF EXISTS \"$STACK_DB\" WITH (FORCE)" >/dev/null
    rm -rf "$STACK_WORK"
}

stack_services_up() {
    trap stack_services_down EXIT
    if [ -z "${BENCH_POSTGRES:-}${BENCH_REDIS_URL:-}" ]; then
        scripts/services.sh  # the local defaults: start them when they are down
    fi
    psql "$POSTGRES/postgres" -qAt -c "CREATE DATABASE \"$STACK_DB\"" >/dev/null
    echo "Postgres: database $STACK_DB on $POSTGRES (dropped afterwards)"

    # SeaweedFS through the test helper: it picks free ports and writes the keys; this python
    # process holds the server and stops it (and removes its sockets) on SIGTERM.
    "$PY" - "$STACK_WORK" >"$STACK_WORK/s3.log" 2>&1 <<'PYEOF' &
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
PYEOF
    SEAWEED_PID=$!
    # Waits for the address, but not for a helper that died (no venv, no weed binary, ...).
    for _ in $(seq 600); do
        if [ -e "$STACK_WORK/s3.ready" ] || ! kill -0 "$SEAWEED_PID" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    local endpoint access secret
    if ! read -r endpoint access secret <"$STACK_WORK/s3.ready" 2>/dev/null; then
        echo "SeaweedFS did not start:" >&2
        cat "$STACK_WORK/s3.log" >&2
        return 1
    fi
    echo "S3: SeaweedFS at $endpoint (pid $SEAWEED_PID, stopped afterwards)"
    echo "Redis: $REDIS_URL"
    export DREAMFORGE_DATABASE_URL="$POSTGRES/$STACK_DB"
    export DREAMFORGE_REDIS_URL="$REDIS_URL"
    export DREAMFORGE_S3_ENDPOINT="$endpoint"
    export DREAMFORGE_S3_ACCESS_KEY="$access"
    export DREAMFORGE_S3_SECRET_KEY="$secret"
}

# Starts the services, runs "$PY" with these arguments and exits with its status (the EXIT
# trap removes the services).
stack_services_run() {
    stack_services_up
    set +e
    "$PY" "$@"
    local status=$?
    set -e
    exit "$status"
}
