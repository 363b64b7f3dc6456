#!/usr/bin/env bash
# Run the Postman collection with newman against a running stack (BASE_URL, default the local one).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/node-modules.sh
mkdir -p var
report=var/newman-report.json
status=0
node_modules/.bin/newman run postman/order-platform.postman_collection.json \
  -e postman/arch.homework.postman_environment.json \
  --env-var "baseUrl=${BASE_URL:-http://127.0.0.1:8000}" \
  --verbose --color off --reporters cli,json --reporter-json-export "$report" "$@" || status=$?
# One plain closing line that CI and people can read at a glance.
node -e '
  const s = require("./" + process.argv[1]).run.stats.assertions;
  console.log(`newman: ${s.total - s.failed} passed, ${s.failed} failed`);
' "$report" 2>/dev/null || true
exit $status
