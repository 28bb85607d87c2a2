#!/usr/bin/env bash
# The main job (README: make demo). Grows with each issue; today:
#   base images from Debian's archive, then the tutorial's redis and postgres
#   containers: run, ps, exec, logs, stats, stop, rm.
# Bridge networking (service names, published ports) and the builder are still to
# come: then this becomes `compose up --build -d` of the tutorial's stack.
set -euo pipefail
DY=${DY:-.venv/bin/dockyard}
say() { printf '\n\033[1m$ dockyard %s\033[0m\n' "$*"; }
dy() { say "$*"; "$DY" "$@"; }

cleanup() { "$DY" rm -f demo-redis demo-db >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

dy bootstrap
dy images
dy run -d --name demo-redis --restart always redis:7
dy run -d --name demo-db -e POSTGRES_PASSWORD=example -v demo-pgdata:/var/lib/postgresql/data postgres:15
for _ in $(seq 60); do
  "$DY" exec demo-db pg_isready -q -U postgres 2>/dev/null && break
  sleep 0.5
done
dy ps
dy exec demo-redis redis-cli ping
dy exec demo-db psql -U postgres -c 'select version()'
dy logs --tail 3 demo-db
dy stats --no-stream
dy stop demo-redis demo-db
dy rm demo-redis demo-db
dy system df
