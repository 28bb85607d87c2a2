#!/usr/bin/env bash
# The main job (README: make demo). Grows with each issue; today: the tutorial's
# stack with plain dockyard commands, on base images made from Debian's archive:
#   build the web image from examples/tutorial (pip install from PyPI), a user
#   network where web reaches redis and postgres by name, web published on
#   6543:8049 as in the tutorial, then ps, logs, exec, stats, restart, stop, rm.
# With compose this becomes `dockyard compose up --build -d` of
# examples/tutorial/docker-compose.yml.
set -euo pipefail
DY=${DY:-.venv/bin/dockyard}
APP=examples/tutorial
say() { printf '\n\033[1m$ dockyard %s\033[0m\n' "$*"; }
dy() { say "$*"; "$DY" "$@"; }

cleanup() {
  "$DY" rm -f demo-web demo-redis demo-db >/dev/null 2>&1 || true
  "$DY" network rm demo-net >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

dy bootstrap
# behind this machine's intercepting HTTPS proxy pip needs the host's CA bundle:
# --with-host-ca mounts it read-only into RUN steps, never into a layer
dy build --with-host-ca -t demo-web "$APP"
dy images
dy network create demo-net
dy run -d --name demo-redis --network demo-net --network-alias redis --restart always \
  -v demo-redis-data:/data redis:7
dy run -d --name demo-db --network demo-net --network-alias db --env-file "$APP/.env" \
  -v demo-pgdata:/var/lib/postgresql/data postgres:15
dy run -d --name demo-web --network demo-net --env-file "$APP/.env" -p 6543:8049 \
  --restart always demo-web
for _ in $(seq 60); do
  "$DY" exec demo-db pg_isready -q -U postgres 2>/dev/null && break
  sleep 0.5
done
for _ in $(seq 60); do
  curl -fsS http://127.0.0.1:6543/ >/dev/null 2>&1 && break
  sleep 0.5
done
printf '\n\033[1m$ curl http://127.0.0.1:6543/  (twice)\033[0m\n'
curl -fsS http://127.0.0.1:6543/
curl -fsS http://127.0.0.1:6543/
dy ps
dy port demo-web
dy exec demo-redis redis-cli get hits
dy exec demo-db psql -U postgres -c 'select version()'
dy exec demo-web getent hosts redis db
dy logs --tail 3 demo-web
dy stats --no-stream
dy restart demo-web
for _ in $(seq 60); do
  curl -fsS http://127.0.0.1:6543/ 2>/dev/null && break
  sleep 0.5
done
dy stop demo-web demo-redis demo-db
dy rm demo-web demo-redis demo-db
dy network rm demo-net
dy system df
