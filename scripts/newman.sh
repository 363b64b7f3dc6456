#!/usr/bin/env bash
# Run the Postman collection with newman against a running stack (BASE_URL, default the local one).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/newman ] || npm ci --no-audit --no-fund --loglevel=error
exec node_modules/.bin/newman run postman/order-platform.postman_collection.json \
  -e postman/arch.homework.postman_environment.json \
  --env-var "baseUrl=${BASE_URL:-http://127.0.0.1:8000}" \
  --verbose --color off "$@"
