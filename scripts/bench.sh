#!/usr/bin/env bash
# Benchmarks against the emulator (default 100 ms latency per request); prints a table, writes JSON.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
# shellcheck source=/dev/null
source "$ROOT/scripts/env.sh"
cd "$ROOT"
exec python -m benchmarks "$@"
