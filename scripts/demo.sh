#!/usr/bin/env bash
# The main job on the embedded default: a local Railway emulator and the local file backend, then
# `pulumi up` of a stack (default: dev). Prints the environment's URL and probes its health endpoint.
# Safe to re-run: the emulator keeps its state in .pulumi-state/emulator.db next to the Pulumi state.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=${1:-dev}
bash "$ROOT/scripts/setup.sh"
# shellcheck source=/dev/null
source "$ROOT/scripts/env.sh"
cd "$ROOT"

url_file=$(mktemp)
python -m railway_emulator serve --port 0 --state .pulumi-state/emulator.db --url-file "$url_file" \
  > .pulumi-state/emulator.log 2>&1 &
emulator=$!
trap 'kill $emulator 2>/dev/null; rm -f "$url_file"' EXIT
for _ in $(seq 100); do [ -s "$url_file" ] && break; sleep 0.1; done
[ -s "$url_file" ] || { cat .pulumi-state/emulator.log; echo "emulator did not start" >&2; exit 1; }
export RAILWAY_API_URL="$(cat "$url_file")" RAILWAY_API_TOKEN="${RAILWAY_API_TOKEN:-railway-emulator-local-token}"
echo "Railway emulator: $RAILWAY_API_URL"

pulumi stack select --create "$STACK" >/dev/null
pulumi up --yes --skip-preview --suppress-progress
url=$(pulumi stack output url)
host=${url#https://}
echo
echo "Environment '$STACK' is up: $url"
echo "Health (through the emulator's HTTP front): $(curl -s -H "Host: $host" "${RAILWAY_API_URL%/graphql/v2}/health")"
