# Source after scripts/setup.sh: puts the toolchain and .venv on PATH and sets offline defaults.
# Every default yields to a value already in the environment (real users set their own backend/passphrase).
_ACS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_ACS_CACHE=${ACS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/acs-infra}
export PATH="$_ACS_ROOT/.venv/bin:$(cat "$_ACS_CACHE/current-bin"):$PATH"
export PULUMI_HOME="${PULUMI_HOME:-$_ACS_CACHE/pulumi-home}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$_ACS_ROOT/.pulumi-state}"
# Demo-only passphrase for the local backend's stack keys (documented in README); never use it for real stacks.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-acs-local-demo}"
export PULUMI_SKIP_UPDATE_CHECK=true
# Every pulumi command writes a log file into $PULUMI_HOME/logs and stats all of them first (log rotation keeps
# 7 days / 500 MB by default). After a few suite runs that was 65,000 files and 0.5 s per command; keep a few MB.
export PULUMI_LOG_ROTATION_MAX_TOTAL_MB="${PULUMI_LOG_ROTATION_MAX_TOTAL_MB:-4}"
export PULUMI_LOG_ROTATION_MAX_AGE_DAYS="${PULUMI_LOG_ROTATION_MAX_AGE_DAYS:-1}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_CONFIRMATIONS=true
export PULUMI_PYTHON_CMD="$_ACS_ROOT/.venv/bin/python"
mkdir -p "$_ACS_ROOT/.pulumi-state"
