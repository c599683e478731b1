#!/usr/bin/env bash
# Install what DTE needs to build, test and run its dev Slurm cluster on Debian 12.
#
# Idempotent and fast when everything is already there (a second run takes about a second):
#   * Debian packages are installed only when one of them is missing, and `apt-get update`
#     runs only then (or when apt has no package lists yet).
#   * tosca-parser (used to cross-check shipped templates) is pip-installed into the python3
#     found on PATH, only when that python cannot already import the pinned version.
#
# Needs root (CI and dev machines run as root). No standard input is read.
set -euo pipefail

APT_PACKAGES=(
  # the dev Slurm cluster (scripts/dev-cluster.sh)
  slurm-wlm slurmdbd munge libslurm-dev mariadb-server
  # the Swift build (system libraries)
  libyaml-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev openssl
  # the test runtime and benchmarks
  bubblewrap hyperfine
  # the metrics tests: promtool check metrics, and a real Prometheus scraping the agent
  prometheus
  # dte graph -o FILE.svg and scripts/graph-svg.sh (the README's picture)
  graphviz
  # pip for the system python, in case python3 on PATH is Debian's
  python3-pip
)
TOSCA_PARSER_VERSION=2.15.0

log() { printf '[install-deps] %s\n' "$*"; }

if [[ $(id -u) -ne 0 ]]; then
  echo "[install-deps] error: must run as root (apt-get install)" >&2
  exit 1
fi

# --- Debian packages --------------------------------------------------------------------------
missing=()
while read -r pkg status; do
  [[ $status == "installed" ]] || missing+=("$pkg")
done < <(
  for p in "${APT_PACKAGES[@]}"; do
    s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    echo "$p ${s:-absent}"
  done
)

if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  # Refresh the package lists unless they are already present; retry once after a refresh
  # in case they are stale.
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
    log "apt-get update"
    apt-get update -q
    apt-get install "${apt_opts[@]}" "${missing[@]}"
  elif ! apt-get install "${apt_opts[@]}" "${missing[@]}"; then
    log "install failed; apt-get update and retry"
    apt-get update -q
    apt-get install "${apt_opts[@]}" "${missing[@]}"
  fi
else
  log "Debian packages: all ${#APT_PACKAGES[@]} present"
fi

# --- tosca-parser (PyPI) ----------------------------------------------------------------------
PY=python3
have_tosca() {
  "$PY" - "$TOSCA_PARSER_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib import metadata
try:
    ok = metadata.version("tosca-parser") == sys.argv[1]
    import toscaparser.tosca_template  # noqa: F401  (really importable, not just metadata)
except Exception:
    ok = False
sys.exit(0 if ok else 1)
EOF
}

if ! command -v "$PY" >/dev/null; then
  echo "[install-deps] error: no python3 on PATH" >&2
  exit 1
fi

if have_tosca; then
  log "tosca-parser $TOSCA_PARSER_VERSION: present ($(command -v "$PY"))"
else
  log "pip install tosca-parser==$TOSCA_PARSER_VERSION ($(command -v "$PY"))"
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
  pip_args=(-m pip install --quiet "tosca-parser==$TOSCA_PARSER_VERSION")
  # Debian's own python3 is "externally managed" (PEP 668): allow the install there.
  if ! "$PY" "${pip_args[@]}"; then
    log "retrying with --break-system-packages (externally managed python)"
    "$PY" "${pip_args[@]}" --break-system-packages
  fi
  if ! have_tosca; then
    echo "[install-deps] error: tosca-parser $TOSCA_PARSER_VERSION still not importable by $PY" >&2
    exit 1
  fi
fi

log "done"
