#!/usr/bin/env bash
# Installs everything the tests need (Debian packages and npm packages), then runs every check and
# every test: types, lint, the build, unit and property tests, and the network-namespace lab.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
[ -d node_modules ] && [ node_modules -nt package-lock.json ] || npm ci --no-audit --no-fund

npx tsc --noEmit -p .
npx biome check .
npm run build
npm test
