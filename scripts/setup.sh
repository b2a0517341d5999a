#!/usr/bin/env bash
# Installs everything bnncc needs on a fresh Debian machine (run as root): system packages,
# then a venv in .venv with the pinned Python packages. Idempotent: a stamp keyed on the
# requirement files skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(iverilog yosys dataset-fashion-mnist g++ tcl chromium)  # chromium: the charts page test
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

stamp=.venv/.setup-stamp
want=$(cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: creating .venv with pinned packages" >&2
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt -c constraints.txt
  .venv/bin/pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi
