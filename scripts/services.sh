#!/usr/bin/env bash
# Makes sure the services the tests use are answering: PostgreSQL and Redis on this machine
# (started with the commands this machine kind documents when they are down). The S3 server
# (SeaweedFS) is started by the tests themselves.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
    echo "PostgreSQL is not answering: starting it" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
    for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
fi
if ! redis_up; then
    echo "Redis is not answering: starting it" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 50); do redis_up && break; sleep 0.2; done
fi
pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
redis_up || { echo "Redis did not start" >&2; exit 1; }
