#!/usr/bin/env bash
# Install what DTE needs to build, test and run its dev Slurm cluster on Debian 12.
#
# Idempotent and fast when everything is already there (a second run takes about a second):
#   * Debian packages are installed only when one of them is missing, and `apt-get update`
#     runs only then (or when apt has no package lists yet).
#   * tosca-parser (used to cross-check shipped templates) and htcondor (HTCondor's submit
#     parser, for the HTCondor tests) are pip-installed into the python3 found on PATH, only
#     when that python cannot already import the pinned version.
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
HTCONDOR_VERSION=25.14.1

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

# --- Python packages (PyPI) -------------------------------------------------------------------
#   * tosca-parser: cross-checks the shipped templates;
#   * htcondor: HTCondor's Python bindings (no daemons), whose submit-language parser reads the
#     submit descriptions dte-agent writes in the HTCondor tests.
# Each is pip-installed into the python3 found on PATH, only when that python cannot already
# import the pinned version.
PY=python3
PIP_PACKAGES=(
  # name version module-to-import
  "tosca-parser $TOSCA_PARSER_VERSION toscaparser.tosca_template"
  "htcondor $HTCONDOR_VERSION htcondor2"
)

if ! command -v "$PY" >/dev/null; then
  echo "[install-deps] error: no python3 on PATH" >&2
  exit 1
fi

have_pip_package() {
  "$PY" - "$1" "$2" "$3" <<'EOF' 2>/dev/null
import importlib
import sys
from importlib import metadata
try:
    ok = metadata.version(sys.argv[1]) == sys.argv[2]
    importlib.import_module(sys.argv[3])  # really importable, not just metadata
except Exception:
    ok = False
sys.exit(0 if ok else 1)
EOF
}

for entry in "${PIP_PACKAGES[@]}"; do
  read -r name version module <<<"$entry"
  if have_pip_package "$name" "$version" "$module"; then
    log "$name $version: present ($(command -v "$PY"))"
    continue
  fi
  log "pip install $name==$version ($(command -v "$PY"))"
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
  pip_args=(-m pip install --quiet "$name==$version")
  # Debian's own python3 is "externally managed" (PEP 668): allow the install there.
  if ! "$PY" "${pip_args[@]}"; then
    log "retrying with --break-system-packages (externally managed python)"
    "$PY" "${pip_args[@]}" --break-system-packages
  fi
  if ! have_pip_package "$name" "$version" "$module"; then
    echo "[install-deps] error: $name $version still not importable by $PY" >&2
    exit 1
  fi
done

log "done"
