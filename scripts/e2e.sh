#!/usr/bin/env bash
# Start the stack exactly as `make run` does (on a port, database and Redis databases of its own,
# so a stack already running is not disturbed), wait until it is ready, run the Postman suite
# with newman, stop the stack. Exits with newman's status.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${E2E_PORT:-8010}
export WEB_BIND=127.0.0.1:$port
export FLOWER_PORT=${E2E_FLOWER_PORT:-5565}
export DATABASE_URL=${E2E_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/order_platform_e2e}
export CELERY_BROKER_URL=${E2E_BROKER_URL:-redis://127.0.0.1:6379/3}
export REPLY_REDIS_URL=${E2E_REPLY_REDIS_URL:-redis://127.0.0.1:6379/4}
export CACHE_URL=${E2E_CACHE_URL:-redis://127.0.0.1:6379/5}
mkdir -p var
log=var/e2e-stack.log

setsid scripts/run.sh >"$log" 2>&1 &
stack=$!
stop() {
  kill -INT -- "-$stack" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$stack" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL -- "-$stack" 2>/dev/null || true
}
trap stop EXIT

ready=""
for _ in $(seq 120); do
  if ! kill -0 "$stack" 2>/dev/null; then break; fi
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=yes; break; fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "e2e: the stack did not become ready; its log:" >&2
  tail -n 60 "$log" >&2
  exit 1
fi
# The workers announce themselves to the broker; give them a moment after the API is up.
.venv/bin/celery -A gateway_django inspect ping --timeout 10 >/dev/null 2>&1 || true

status=0
BASE_URL="http://127.0.0.1:$port" scripts/newman.sh || status=$?
[ $status -eq 0 ] || { echo "e2e: newman failed; the stack's log is in $log" >&2; }
exit $status
