#!/usr/bin/env bash
# Sets up, builds the bundled example model (seeded, trained briefly on sklearn digits) and
# runs the main job on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/make_example.py --out examples
.venv/bin/bnncc inspect examples/digits_bnn.onnx
.venv/bin/bnncc run examples/digits_bnn.onnx --input examples/digits_input.npy --json
