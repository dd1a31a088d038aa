#!/usr/bin/env bash
# Runs the whole test suite (unit, integration against the emulator, end-to-end with the real engine).
# Does its own set-up; extra arguments go to pytest. Two workers by default (pytest-xdist; each test owns its
# emulator, backend and ports): ACS_TEST_WORKERS=0 runs serially. `--dist worksteal`: a worker that runs out of
# tests takes some of the other's, so the long end-to-end tests do not finish on one worker while the other idles.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
# shellcheck source=/dev/null
source "$ROOT/scripts/env.sh"
cd "$ROOT"
exec python -m pytest -n "${ACS_TEST_WORKERS:-2}" --dist worksteal "$@"
