#!/usr/bin/env bash
# Makes sure a Chromium is installed for the playground's browser tests (Playwright drives
# the system browser: ADR 0042). As root on Debian it installs the `chromium` package,
# non-interactively; otherwise it says what is missing. It never fails the run itself: the
# browser tests skip without a browser, and fail under CI=true.
set -uo pipefail

found() {
    [ -n "${DREAMFORGE_CHROMIUM:-}" ] && [ -x "$DREAMFORGE_CHROMIUM" ] && return 0
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
        || command -v google-chrome >/dev/null 2>&1
}

found && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Chromium is missing: installing Debian's chromium for the browser tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium </dev/null >/dev/null \
        || { apt-get update -q </dev/null >/dev/null && apt-get install -y -q chromium </dev/null >/dev/null; }
fi
if ! found; then
    echo "Chromium is missing and could not be installed here: install it (Debian:" \
        "apt-get install chromium) or set DREAMFORGE_CHROMIUM to a Chromium binary;" \
        "the browser tests skip without it, and fail when CI=true" >&2
fi
exit 0
