#!/usr/bin/env bash
# Checks that the package installs with its extras into a fresh venv, with no setup script, and that a
# compile with C simulation and RTL simulation then works from that install alone (run by scripts/test.sh).
# System tools are the machine's (g++ for --csim, iverilog for --sim: scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d /tmp/bnncc-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$root[all]" -c "$root/constraints.txt"  # the pins resolve at once
cd "$work"  # away from the checkout: the installed package is what runs
"$work/venv/bin/python" -c "from bnncc import fixtures; fixtures.save(fixtures.binary_mlp(seed=0), 'm.onnx')"
"$work/venv/bin/bnncc" m.onnx --target fpga --csim --sim -o out
"$work/venv/bin/python" -c "import json; r = json.load(open('out/report.json'))['verification']; \
assert r['csim']['passed'] and r['rtl_sim']['passed'], r; print('check_install: csim and RTL sim passed from a fresh install')"
