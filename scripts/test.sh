#!/usr/bin/env bash
# Sets up the virtualenv, makes sure the services the tests use are answering (starting
# PostgreSQL and Redis when they are not) and that a Chromium is there for the browser
# tests (installing Debian's as root), and runs the secrets check,
# lint, types, import boundaries and the whole test suite. Fails when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."

# Whatever the processes below import and find uncompiled (the virtualenv is installed with only
# what the project imports compiled: see the Makefile) is compiled once and kept, not once per
# process: the tests start hundreds of them.
unset PYTHONDONTWRITEBYTECODE

# The virtualenv is (re)installed when pyproject.toml is newer than its install stamp, as
# for `make check`: an unchanged one costs no pip run.
make -s install

# The project is byte-compiled, and the test modules rewritten for pytest, once for the
# hundreds of processes the tests start (see the Makefile), on the second core while the
# checks below run on the first.
bytecode_log=$(mktemp)
make -s bytecode PY=.venv/bin/python >"$bytecode_log" 2>&1 &
bytecode_pid=$!

./scripts/services.sh
./scripts/browser.sh
make -s secrets lint imports PY=.venv/bin/python
./scripts/validate-deploy.sh
if ! wait "$bytecode_pid"; then
    cat "$bytecode_log" >&2
    echo "byte-compiling the project or collecting the tests failed" >&2
    exit 1
fi
rm -f "$bytecode_log"

# The type check (a single-threaded half minute on a fresh clone) runs beside the tests'
# start-up instead of before it; its verdict counts as much as theirs.
types_log=$(mktemp)
make -s types PY=.venv/bin/python >"$types_log" 2>&1 &
types_pid=$!

# Most tests wait on server processes, so more workers than cores pays (ADR 0024).
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider -n "${PYTEST_WORKERS:-6}" --dist loadfile
status=$?
wait "$types_pid"
types_status=$?
set -e
cat "$types_log"
rm -f "$types_log"
if [ "$types_status" -ne 0 ]; then
    echo "the type check failed" >&2
    exit 1
fi
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
