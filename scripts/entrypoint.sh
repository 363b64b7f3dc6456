#!/bin/sh
# The one way each process of the system starts, locally (Procfile) and in the image (its
# command; the Helm chart's containers): scripts/entrypoint.sh ROLE [ARGS...]
#
#   web                   the API: gunicorn on gevent (gateway_django/gunicorn.py), WEB_BIND;
#                         its metrics at /metrics
#   worker QUEUE          the Celery worker of one domain queue (settings.DOMAIN_QUEUES); its
#                         metrics on METRICS_PORT
#   beat                  the periodic tasks; exactly one must run; its metrics, with the
#                         database's and the queues' gauges, on METRICS_PORT
#   flower                task monitoring, always behind FLOWER_BASIC_AUTH
#                         (gateway_django/flower.py)
#   migrate               apply the database migrations
#   wait-for-migrations   wait until no migration is left to apply (an init container)
#   healthcheck           exit 0 if this container's process is alive: the heartbeat file's
#                         age when HEARTBEAT_FILE is set (workers, beat), else the API's /healthz
#
# Extra arguments go to the process. Settings come from the environment (.env.example).
# Each role names itself in traces (OTEL_SERVICE_NAME, as the chart does: order-platform-web,
# order-platform-worker-orders, ...); tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT is set.
# Celery prints no banner (--quiet): every line it writes is a log line (settings.LOGGING).
set -eu
cd "$(dirname "$0")/.."

role=${1:-web}
[ $# -gt 0 ] && shift

# The API's and a worker's processes keep their metrics in files that whoever serves /metrics
# adds up (kernel/telemetry/metrics.py): PROMETHEUS_MULTIPROC_DIR, emptied at start, since the
# values of a run before (a restarted container keeps /tmp) must not count; else a new one.
multiprocess_metrics() {
  if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
  else
    PROMETHEUS_MULTIPROC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/order-platform-metrics.XXXXXX")
  fi
  export PROMETHEUS_MULTIPROC_DIR
}

case $role in
web)
  # An API process uses at most WEB_DATABASE_SLOTS connections at once and keeps them in its
  # pool between requests (kernel/web/postgres), so none is kept per request.
  export DATABASE_CONN_MAX_AGE=0 DATABASE_POOL_SIZE="${WEB_DATABASE_SLOTS:-24}"
  multiprocess_metrics
  export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-order-platform-web}"
  exec gunicorn gateway_django.wsgi --config python:gateway_django.gunicorn "$@"
  ;;
worker)
  queue=${1:?usage: entrypoint.sh worker QUEUE}
  shift
  multiprocess_metrics
  export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-order-platform-worker-$queue}"
  exec celery -A gateway_django --quiet worker -Q "$queue" -n "$queue@%h" \
    --pool "${WORKER_POOL:-prefork}" --concurrency "${WORKER_CONCURRENCY:-2}" \
    -l "${CELERY_LOG_LEVEL:-INFO}" --without-gossip --without-mingle "$@"
  ;;
beat)
  export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-order-platform-beat}"
  exec celery -A gateway_django --quiet beat -l "${CELERY_LOG_LEVEL:-INFO}" \
    --schedule "${BEAT_SCHEDULE_FILE:-var/celerybeat-schedule}" "$@"
  ;;
flower)
  export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-order-platform-flower}"
  exec celery -A gateway_django.flower flower \
    --address="${FLOWER_ADDRESS:-127.0.0.1}" --port="${FLOWER_PORT:-5555}" "$@"
  ;;
migrate)
  exec python manage.py migrate --noinput "$@"
  ;;
wait-for-migrations)
  until python manage.py migrate --check --noinput >/dev/null 2>&1; do
    echo "waiting for the database and its migrations"
    sleep 5
  done
  ;;
healthcheck)
  if [ -n "${HEARTBEAT_FILE:-}" ]; then
    exec python -m kernel.messaging.heartbeat "$HEARTBEAT_FILE" --max-age "${HEARTBEAT_MAX_AGE:-60}"
  fi
  exec python -c 'import os, sys, urllib.request
port = os.environ.get("WEB_BIND", "127.0.0.1:8000").rsplit(":", 1)[1]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as answer:
    sys.exit(answer.status != 200)'
  ;;
*)
  echo "entrypoint.sh: unknown role '$role' (web, worker QUEUE, beat, flower, migrate," \
    "wait-for-migrations, healthcheck)" >&2
  exit 64
  ;;
esac
