#!/usr/bin/env bash
# Sets up the virtualenv (with the diffusers runner), makes sure a model is installed (the
# tiny demo model when there is none), starts the embedded deployment (`dreamforge serve`:
# SQLite, local files, in-process worker; no infrastructure), runs one 3-image job through
# the HTTP API with live progress, saves the images under ./out and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[worker]'

export HF_HUB_OFFLINE=1  # nothing is downloaded at run time
if ! .venv/bin/dreamforge model list | grep -qE "sdxl-(diffusers|checkpoint).*installed"; then
    echo "No model installed: building the tiny demo model. It has random weights," \
         "so its images are noise; install a real checkpoint with the model commands." >&2
    .venv/bin/dreamforge model create-demo
fi

port="${DREAMFORGE_PORT:-$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
server="http://127.0.0.1:${port}"

.venv/bin/dreamforge serve --port "$port" 2>.dreamforge-serve.log &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 300); do
    if .venv/bin/python -c "import httpx,sys; sys.exit(httpx.get('${server}/health').status_code != 200)" 2>/dev/null; then
        break
    fi
    kill -0 "$pid" 2>/dev/null || { cat .dreamforge-serve.log >&2; exit 1; }
    sleep 0.2
done

.venv/bin/dreamforge generate "a lighthouse at dawn, 35mm photo" --count 3 --out ./out \
    --server "$server"
echo "Images with their generation parameters embedded are in ./out"
