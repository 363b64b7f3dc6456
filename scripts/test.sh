#!/usr/bin/env bash
# Run the test suite: real Celery workers on real Redis and PostgreSQL, started by conftest.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
python scripts/preflight.py --no-create
exec pytest "$@"
