#!/usr/bin/env bash
# Sets up and runs the whole test suite (lint first, then pytest, then the fresh-venv install check).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
bash scripts/check_install.sh
