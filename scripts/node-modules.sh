#!/usr/bin/env bash
# Install the Node tools locked in package-lock.json (newman, the AsyncAPI parser) into
# node_modules/, once per version of the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp="node_modules/.installed-$(sha1sum package-lock.json | cut -c1-12)"
[ -e "$stamp" ] && exit 0
echo "npm: installing the Node tools of package-lock.json into node_modules/" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
touch "$stamp"
