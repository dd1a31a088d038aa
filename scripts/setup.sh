#!/usr/bin/env bash
# Makes the Pulumi toolchain and the project's Python environment available, then prints nothing but
# progress on stderr. Source scripts/env.sh afterwards (the demo and test scripts do both).
#
# The toolchain is built from the Go module proxy when no `pulumi` of the pinned version is on PATH, and is
# cached outside the clone (ACS_CACHE_DIR, default ~/.cache/acs-infra) keyed by version, so a warm run takes
# seconds. Safe to re-run; concurrent runs serialise on a lock.
set -euo pipefail

PULUMI_VERSION=3.260.0          # engine, sdk/v3 Go module and the PyPI `pulumi` package (pyproject.toml)
COMMAND_PLUGIN_VERSION=1.2.1    # pulumi-command plugin, matching the PyPI `pulumi-command` package
COMMAND_PLUGIN_COMMIT=7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25  # tag v1.2.1 (the provider module has no tags)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ACS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/acs-infra}
LH_HASH=$(cat "$ROOT"/toolchain/language-python/{main.go,go.mod,go.sum} "$ROOT"/toolchain/lazy_init.py | sha256sum | cut -c1-12)
TOOLCHAIN="$CACHE/pulumi-v$PULUMI_VERSION-lh-$LH_HASH"
BIN="$TOOLCHAIN/bin"
export PULUMI_HOME="$CACHE/pulumi-home"
SDK_MOD=github.com/pulumi/pulumi/sdk/v3

log() { printf '[setup] %s\n' "$*" >&2; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.setup.lock"
flock 9

build_cli() {
  local work; work=$(mktemp -d)
  log "building pulumi v$PULUMI_VERSION from the Go module proxy (cold: several minutes)"
  (cd "$work" && printf 'module acs.local/pulumi-build\n\ngo 1.26\n' > go.mod &&
    go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$PULUMI_VERSION" "$SDK_MOD@v$PULUMI_VERSION" 2>"$work/go-get.log" || { cat "$work/go-get.log" >&2; false; } &&
    lazy_start "$work" &&
    CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
      -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  rm -rf "$work"
}

# Two password-strength libraries parsed their word lists at every `pulumi` start (0.3 s of CPU per process):
# the build uses copies that parse them at first use (toolchain/lazy_init.py says why and how).
lazy_start() {
  local specs copy
  specs=$(cd "$1" && go list -m -f '{{.Path}}={{.Dir}}' github.com/nbutton23/zxcvbn-go github.com/ccojocar/zxcvbn-go) || return 0
  for copy in $(python3 "$ROOT/toolchain/lazy_init.py" "$1/lazy" $specs); do
    (cd "$1" && go mod edit -replace "$copy")
  done
}

build_language_host() {
  log "building the Python language host against sdk/v3 v$PULUMI_VERSION"
  (cd "$ROOT/toolchain/language-python" &&
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=$PULUMI_VERSION" -o "$BIN/pulumi-language-python" .)
  # The runner script and the dynamic-provider shim ship inside the sdk/v3 module (read-only, no exec bit).
  local sdk; sdk=$(cd "$ROOT/toolchain/language-python" && go list -m -f '{{.Dir}}' "$SDK_MOD")
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
  install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$BIN/pulumi-resource-pulumi-python"
}

install_command_plugin() {
  local dir="$PULUMI_HOME/plugins/resource-command-v$COMMAND_PLUGIN_VERSION"
  [ -x "$dir/pulumi-resource-command" ] && return 0
  local work; work=$(mktemp -d)
  log "building pulumi-resource-command v$COMMAND_PLUGIN_VERSION"
  if (cd "$work" && printf 'module acs.local/command-build\n\ngo 1.26\n' > go.mod &&
      go get "github.com/pulumi/pulumi-command/provider@$COMMAND_PLUGIN_COMMIT" >&2 &&
      CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=v$COMMAND_PLUGIN_VERSION" \
        -o "$work/pulumi-resource-command" github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command); then
    "$BIN/pulumi" plugin install resource command "v$COMMAND_PLUGIN_VERSION" --file "$work/pulumi-resource-command" >&2
  else
    # Recorded, not hidden: the test that needs the plugin reports this file's content when it skips.
    log "pulumi-command plugin unavailable: the Go module proxy refused github.com/pulumi/pulumi-command/provider"
    echo "the Go module proxy refused github.com/pulumi/pulumi-command/provider@$COMMAND_PLUGIN_COMMIT" > "$TOOLCHAIN/command-plugin-unavailable"
  fi
  rm -rf "$work"
}

setup_toolchain() {
  if command -v pulumi >/dev/null && [ "$(pulumi version 2>/dev/null)" = "v$PULUMI_VERSION" ] &&
     command -v pulumi-language-python >/dev/null; then
    BIN=$(dirname "$(command -v pulumi)")
    log "using pulumi v$PULUMI_VERSION from PATH ($BIN)"
  elif [ -f "$TOOLCHAIN/.complete" ]; then
    log "toolchain cached at $TOOLCHAIN"
  else
    mkdir -p "$BIN"
    [ -x "$BIN/pulumi" ] || build_cli
    build_language_host
    touch "$TOOLCHAIN/.complete"
  fi
  [ -f "$TOOLCHAIN/command-plugin-unavailable" ] || install_command_plugin
  echo "$BIN" > "$CACHE/current-bin"
}

setup_python() {
  local venv="$ROOT/.venv" stamp
  stamp=$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)
  if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then return 0; fi
  log "creating the Python environment in .venv"
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev]" >&2
  echo "$stamp" > "$venv/.stamp"
}

setup_toolchain
setup_python
log "ready: $("$BIN/pulumi" version)"
