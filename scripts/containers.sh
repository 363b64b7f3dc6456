#!/usr/bin/env bash
# The image for real: build it, run every role the Helm chart runs in a container of its own (as
# the chart runs it: same command, settings, user, read-only root filesystem, writable paths and
# probes), pass the Postman suite against it, kill a worker mid-saga and see the saga finish,
# then remove everything it started, also when a step fails.
#
#   scripts/containers.sh          (make containers)
#
# Works with podman or Docker. Where the official Python base image (the Dockerfile's default)
# is not in the engine's store and debootstrap is installed, it builds a Debian 12 base of its
# own once, from the machine's own Debian mirror, and keeps it in the engine's store for the
# next run; BASE_IMAGE=... chooses another. The machine's PostgreSQL holds a database of its
# own (CONTAINERS_DATABASE_URL), dropped at the end; Redis is a server of its own on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${CONTAINERS_IMAGE:-order-platform:containers}
database_url=${CONTAINERS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/order_platform_containers}
run_id=$$
label=order-platform.containers=$run_id
logs=var/containers
started=$SECONDS

say() { printf 'containers: %s\n' "$*"; }
die() {
  say "$*" >&2
  exit 1
}
step() { say "[$((SECONDS - started))s] $*"; }

# --- the engine, and the flags this machine needs (each tried, kept only if needed) ----------
if [ -n "${CONTAINER_ENGINE:-}" ]; then
  engine=("$CONTAINER_ENGINE")
elif command -v podman >/dev/null; then
  engine=(podman)
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  engine=(docker)
else
  die "no container engine: install podman (apt-get install podman) or start Docker"
fi
run_flags=()
if [ "${engine[0]}" = podman ]; then
  # podman's --read-only adds writable tmpfs mounts of its own: only the chart's are wanted.
  run_flags+=(--read-only-tmpfs=false)
fi

# The first (runtime, limits) with which a container starts: the engine's defaults, else another
# runtime (crun refuses some hosts' cgroups), else open-file and process limits lowered to what
# the machine lets a process raise (the engine's defaults are above some hosts' hard limits).
detect_run_flags() {
  local runtimes=("") runtime limits cmd try
  if [ "${engine[0]}" = podman ]; then
    for runtime in runc crun; do command -v "$runtime" >/dev/null && runtimes+=("$runtime"); done
  fi
  for runtime in "${runtimes[@]}"; do
    for limits in "" "--ulimit=nofile=1024:1024 --ulimit=nproc=1024:1024"; do
      cmd=("${engine[0]}")
      [ -z "$runtime" ] || cmd+=("--runtime=$runtime")
      read -ra try <<<"$limits"
      if "${cmd[@]}" run --rm --network=host "${try[@]}" "$base" true >/dev/null 2>&1; then
        engine=("${cmd[@]}")
        limit_flags=("${try[@]}")
        say "engine: ${engine[*]} ${limit_flags[*]}"
        return 0
      fi
    done
  done
  die "no container starts with ${engine[0]} on this machine: ${engine[0]} run --rm $base true"
}

# --- the base image ---------------------------------------------------------------------------
official=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)
suite=bookworm # Debian 12: its python3 is 3.11, as in the official image
packages=python3,python3-venv,python-is-python3,ca-certificates
# The tag names the recipe: change the suite or the packages and the next run builds anew.
local_base=localhost/order-platform-base:$suite-$(printf '%s %s' "$suite" "$packages" | sha1sum | cut -c1-10)

# The first Debian archive for $suite in this machine's apt sources (deb822 or one-line); none:
# debootstrap's own default.
debian_mirror() {
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      { deb = 0; ok = 0; uri = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/ && $i ~ /[[:space:]]deb([[:space:]]|$)/) deb = 1
          if ($i ~ /^URIs:/) { split($i, u, /[[:space:]]+/); uri = u[2] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[[:space:]]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
        }
        if (deb && ok && uri != "") print uri }'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -nE "s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+$suite([[:space:]].*)?$/\2/p"
  } | head -n 1 || true # the files that do not exist: none of them needs to
}

build_local_base() {
  [ "$(id -u)" = 0 ] || die "building the base image needs root (debootstrap); or set BASE_IMAGE"
  local root mirror
  root=$(mktemp -d)
  temporary+=("$root")
  mirror=$(debian_mirror)
  step "base: debootstrap $suite with $packages (once; kept as $local_base)"
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" ${mirror:+"$mirror"} \
    >"$logs/debootstrap.log" 2>&1 || {
    tail -n 20 "$logs/debootstrap.log" >&2
    die "debootstrap failed (log: $logs/debootstrap.log)"
  }
  # What the official slim image leaves out as well: the downloaded packages, the package lists.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "${engine[0]}" import --change "ENV LANG=C.UTF-8" - "$local_base" >/dev/null
  rm -rf "$root"
}

# --- what is started is removed, whatever happens ---------------------------------------------
temporary=()
redis_pid=""
cleanup() {
  local status=$? name ids
  set +e
  if [ $status -ne 0 ] && [ -n "${base:-}" ]; then
    for name in $("${engine[@]}" ps -a --filter "label=$label" --format '{{.Names}}' 2>/dev/null); do
      "${engine[@]}" logs "$name" >"$logs/$name.log" 2>&1
    done
    [ -d "$logs" ] && say "failed; the containers' logs are in $logs/" >&2
  fi
  if [ -n "${base:-}" ]; then
    # Killed first: nothing is left to shut down gracefully, and rm would wait for each.
    ids=$("${engine[@]}" ps -aq --filter "label=$label")
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086 # one id a word
      "${engine[@]}" kill $ids >/dev/null 2>&1
      # shellcheck disable=SC2086
      "${engine[@]}" rm -f $ids >/dev/null 2>&1
    fi
  fi
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  [ -n "${database_created:-}" ] && drop_database
  [ ${#temporary[@]} -gt 0 ] && rm -rf "${temporary[@]}"
  say "$([ $status -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - started)) s"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop_database() {
  .venv/bin/python - "$database_url" <<'PY'
import sys

import environ
import psycopg2
from psycopg2 import sql

config = environ.Env.db_url_config(sys.argv[1])
conn = psycopg2.connect(
    dbname="postgres", host=config["HOST"] or None, port=config["PORT"] or None,
    user=config["USER"] or None, password=config["PASSWORD"] or None,
)
conn.autocommit = True
with conn.cursor() as cursor:
    cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(config["NAME"])))
PY
}

mkdir -p "$logs"
rm -f "$logs"/*.log

if [ -n "${BASE_IMAGE:-}" ]; then
  base=$BASE_IMAGE
elif "${engine[0]}" image inspect "$official" >/dev/null 2>&1; then
  base=$official
elif command -v debootstrap >/dev/null; then
  base=$local_base
  "${engine[0]}" image inspect "$base" >/dev/null 2>&1 || build_local_base
else
  base=$official # the engine pulls it
fi
say "base image: $base"
limit_flags=()
detect_run_flags

# --- the image ---------------------------------------------------------------------------------
# A build reaches the package index on the engine's own network where it can, else on the
# machine's; and where the machine reaches it through a proxy only the machine trusts, with the
# machine's CA bundle lent to the build (read-only, never part of the image).
host_ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
image_ca=/etc/ssl/certs/ca-certificates.crt
build_flags=()
reaches_index() {
  "${engine[@]}" run --rm "${limit_flags[@]}" "$@" "$base" python3 -c '
import urllib.request
urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=20)' >/dev/null 2>&1
}
for network in "" --network=host; do
  for ca in "" "--volume=$host_ca:$image_ca:ro"; do
    [ -n "$ca" ] && [ ! -f "$host_ca" ] && continue
    # shellcheck disable=SC2086 # empty flags vanish
    if reaches_index $network $ca; then
      # shellcheck disable=SC2206
      build_flags=($network $ca)
      break 2
    fi
  done
done
say "build flags: ${build_flags[*]:-none}"

step "build $image FROM $base"
"${engine[@]}" build "${limit_flags[@]}" "${build_flags[@]}" --build-arg "BASE_IMAGE=$base" \
  --tag "$image" . >"$logs/build.log" 2>&1 || {
  tail -n 30 "$logs/build.log" >&2
  die "the build failed (log: $logs/build.log)"
}
# Each build with changed code leaves the image it replaced untagged: remove those, this
# Dockerfile's only (its label), so that runs after runs do not fill the machine's disk.
"${engine[@]}" image prune --force --filter "label=org.opencontainers.image.title=order-platform" >/dev/null

# Image hygiene: the user, no compiler, no pip cache, none of the project's tests or tooling.
size=$("${engine[@]}" image inspect --format '{{.Size}}' "$image")
user=$("${engine[@]}" image inspect --format '{{.Config.User}}' "$image")
[ "$user" = 10001:10001 ] || die "the image's user is '$user', not 10001:10001"
# shellcheck disable=SC2016 # expanded inside the container
"${engine[@]}" run --rm --network=host "${limit_flags[@]}" --entrypoint sh "$image" -c '
  found=""
  for tool in gcc cc c++ g++ clang make; do command -v "$tool" >/dev/null && found="$found $tool"; done
  [ -z "$found" ] || { echo "compilers in the image:$found"; exit 1; }
  extra=$(find / -xdev -name .cache -type d 2>/dev/null; find /app \( -name tests -o -name "test_*.py" \
    -o -name conftest.py -o -name .git -o -name .venv -o -name node_modules -o -name charts \) -print)
  [ -z "$extra" ] || { echo "not for the image:"; echo "$extra"; exit 1; }
  [ "$(id -u)" = 10001 ]' || die "the image is not clean (above)"
step "image: $((size / 1000000)) MB, user $user, no compiler, no pip cache, no tests"

# --- the datastores ----------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
web_port=$(free_port)
flower_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
  >"$logs/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
drop_database # what an interrupted run may have left
database_created=yes
DATABASE_URL=$database_url CELERY_BROKER_URL=redis://127.0.0.1:$redis_port/0 \
  .venv/bin/python scripts/preflight.py

# --- every role, as the chart runs it ----------------------------------------------------------
plan=$(.venv/bin/python scripts/chart_containers.py --image "$image" \
  --database-url "$database_url" --redis-url "redis://127.0.0.1:$redis_port" \
  --web-port "$web_port" --flower-port "$flower_port")
declare -A readiness liveness deadline
mains=()
container() { printf 'order-platform-%s-%s' "$1" "$run_id"; }

# A probe as the kubelet runs it: an HTTP GET or a TCP connection to the pod's port (the
# containers share the machine's network here), or the command inside the container.
probe() {
  local name=$1 kind=$2
  shift 2
  case $kind in
  http) curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$1$2" 2>/dev/null ;;
  tcp) (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null ;;
  exec) "${engine[@]}" exec "$(container "$name")" "$@" >/dev/null 2>&1 ;;
  -) true ;;
  esac
}

run() {
  "${engine[@]}" run --name "$(container "$1")" --label "$label" --network=host \
    "${limit_flags[@]}" "${run_flags[@]}" "${@:2}"
}

while IFS=$'\t' read -r name kind args ready live startup; do
  eval "spec=($args)"
  case $kind in
  job | init)
    step "$name (runs to its end)"
    # shellcheck disable=SC2154 # spec is set by the eval above
    run "$name" --rm "${spec[@]}" >"$logs/$name.log" 2>&1 || {
      tail -n 30 "$logs/$name.log" >&2
      die "$name failed"
    }
    ;;
  main)
    step "$name (started)"
    run "$name" --detach "${spec[@]}" >/dev/null
    mains+=("$name")
    readiness[$name]=$ready
    liveness[$name]=$live
    deadline[$name]=$((SECONDS + startup))
    ;;
  esac
done <<<"$plan"

# Ready through the chart's own readiness probes (the API's /readyz, the heartbeat of the
# workers and beat, Flower's port), within what each startup probe allows; then alive by the
# liveness probes.
wait_ready() {
  local name=$1 limit=$2
  eval "local check=(${readiness[$name]})"
  # shellcheck disable=SC2154
  until probe "$name" "${check[@]}"; do
    if [ "$SECONDS" -ge "$limit" ]; then
      "${engine[@]}" logs --tail 30 "$(container "$name")" >&2 2>&1
      die "$name is not ready (${readiness[$name]}) in time"
    fi
    sleep 1
  done
}
for name in "${mains[@]}"; do wait_ready "$name" "${deadline[$name]}"; done
for name in "${mains[@]}"; do
  eval "check=(${liveness[$name]})"
  probe "$name" "${check[@]}" || die "$name fails its liveness probe (${liveness[$name]})"
done
images=$(for name in "${mains[@]}"; do "${engine[@]}" inspect --format '{{.Image}}' "$(container "$name")"; done | sort -u | wc -l)
[ "$images" = 1 ] || die "the roles run $images different images"
step "ready: ${#mains[*]} containers (${mains[*]}), one image, probes passing"

# --- the Postman suite against the containers -------------------------------------------------
api=http://127.0.0.1:$web_port
step "newman against $api"
BASE_URL=$api scripts/newman.sh >"$logs/newman.log" 2>&1 || {
  tail -n 40 "$logs/newman.log" >&2
  die "the Postman suite failed (log: $logs/newman.log)"
}
say "$(tail -n 1 "$logs/newman.log")"

# --- one order whose worker is killed mid-saga ------------------------------------------------
# The orders worker is frozen (SIGSTOP) before the order is placed, so the order is sure to be
# caught mid-saga: accepted by the gateway, its OrderRequested in the broker or in the frozen
# worker's hands. Then the worker is killed (SIGKILL, nothing is acknowledged or handed back)
# and its container started again; the saga must still end confirmed (the outbox relay sends
# again what the dead worker took with it).
json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
user=saga-$run_id-$RANDOM
password=correct-horse-$RANDOM-battery
curl -fsS -X POST "$api/register/" -H 'Content-Type: application/json' \
  -d "{\"username\": \"$user\", \"email\": \"$user@example.com\", \"password\": \"$password\"}" >/dev/null
token=$(curl -fsS -X POST "$api/login/" -H 'Content-Type: application/json' \
  -d "{\"username\": \"$user\", \"password\": \"$password\"}" | json '["access"]')
auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
# The account is opened when billing hears UserCreated.
for _ in $(seq 60); do curl -fsS "${auth[@]}" "$api/account/" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS -X POST "$api/transaction/" "${auth[@]}" -d '{"amount": "100.00"}' >/dev/null

worker=$(container worker-orders)
step "orders worker frozen; one order placed"
"${engine[@]}" kill --signal STOP "$worker" >/dev/null
placed=$SECONDS
answer=$(curl -sS -w '\n%{http_code}' -X POST "$api/order/" "${auth[@]}" \
  -H "Idempotency-Key: containers-$run_id" -d '{"price": "25.00", "description": "mid-saga"}')
code=$(tail -n 1 <<<"$answer")
[ "$code" = 202 ] || die "the order was answered $code while its worker was frozen, not 202"
order=$(head -n 1 <<<"$answer" | json '["id"]')
"${engine[@]}" kill --signal KILL "$worker" >/dev/null
step "orders worker killed with order $order pending; started again"
"${engine[@]}" start "$worker" >/dev/null
wait_ready worker-orders $((SECONDS + 180))
status=pending
until [ "$status" != pending ] || [ $((SECONDS - placed)) -gt 180 ]; do
  sleep 2
  status=$(curl -fsS "${auth[@]}" "$api/order/$order/" | json '["status"]')
done
[ "$status" = confirmed ] || die "order $order ended '$status' after its worker was killed"
step "order $order confirmed $((SECONDS - placed)) s after it was placed, its worker killed and restarted"

# --- compose.yaml ------------------------------------------------------------------------------
# The same system for people without a cluster. Its PostgreSQL and Redis images come from a
# registry, which this script never needs; and podman-compose as packaged by Debian 12 knows
# neither `config` nor the dependency conditions the file uses. So the file is checked against
# the Compose specification's schema and the project's roles (tests/test_compose.py) instead.
TEST_REDIS_PORT=$redis_port DATABASE_URL=$database_url \
  .venv/bin/pytest -q -p no:cacheprovider tests/test_compose.py >"$logs/compose.log" 2>&1 || {
  cat "$logs/compose.log" >&2
  die "compose.yaml does not hold (above)"
}
step "compose.yaml: $(tail -n 1 "$logs/compose.log")"
