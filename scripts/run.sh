#!/usr/bin/env bash
# Run the whole stack locally: API server, one Celery worker per domain queue, beat and flower,
# against the local PostgreSQL and Redis. supervisord runs the Procfile's processes and starts
# again one that dies; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-gateway_django.settings.local}
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p var

# A staff user made at start (DJANGO_SUPERUSER_USERNAME) joins the system like any user: it
# needs an email address, and a password to log in with.
if [ -n "${DJANGO_SUPERUSER_USERNAME:-}" ] \
  && { [ -z "${DJANGO_SUPERUSER_EMAIL:-}" ] || [ -z "${DJANGO_SUPERUSER_PASSWORD:-}" ]; }; then
  echo "DJANGO_SUPERUSER_USERNAME is set: set DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD too." >&2
  exit 2
fi

python scripts/preflight.py
python manage.py migrate --noinput -v 0
python manage.py collectstatic --noinput -v 0
if [ -n "${DJANGO_SUPERUSER_USERNAME:-}" ]; then
  # Made on the first start; on the next ones the name is taken, which is no error.
  if ! made=$(python manage.py createsuperuser --noinput 2>&1); then
    case $made in
      *"already taken"*) ;;
      *) echo "$made" >&2; exit 1 ;;
    esac
  fi
fi

# Flower shows every task's arguments: it always asks for credentials. Without
# FLOWER_BASIC_AUTH (user:password) one is made once for this checkout and kept in var/.
if [ -z "${FLOWER_BASIC_AUTH:-}" ]; then
  [ -s var/flower-credentials ] || echo "operator:$(python -c 'import secrets; print(secrets.token_urlsafe(18))')" > var/flower-credentials
  chmod 600 var/flower-credentials
  FLOWER_BASIC_AUTH=$(cat var/flower-credentials)
  export FLOWER_BASIC_AUTH
fi

bind=${WEB_BIND:-127.0.0.1:8000}
# The workers' and beat's metrics ports, one each from here up (scripts/supervisord_conf.py):
# 9100 beside an API on 8000, and as far from it for a stack on another port.
metrics_port=$((9100 + ${bind##*:} - 8000))
{ [ "$metrics_port" -ge 1024 ] && [ "$metrics_port" -le 65500 ]; } || metrics_port=9100
export METRICS_PORT=${METRICS_PORT:-$metrics_port}
# supervisord's configuration, socket and pid file: one directory per stack (per API port).
stack=var/stack-${bind##*:}
cat <<TXT
Stack starting:
  API       http://$bind/          (OpenAPI docs: http://$bind/api/docs/)
  Admin     http://$bind/admin/    (create a staff user: .venv/bin/python manage.py createsuperuser)
  Flower    http://127.0.0.1:${FLOWER_PORT:-5555}/   (credentials in var/flower-credentials or FLOWER_BASIC_AUTH)
  Health    http://$bind/readyz
  Metrics   http://$bind/metrics (the API), http://127.0.0.1:$METRICS_PORT/metrics and up (workers, beat)
  Processes .venv/bin/supervisorctl -c $stack/supervisord.conf status   (restart stack:billing, …)
TXT
python scripts/supervisord_conf.py Procfile "$stack"
exec supervisord --configuration "$stack/supervisord.conf"
