#!/usr/bin/env bash
# Sets up, builds the bundled example model (seeded, trained briefly on sklearn digits) and runs the
# main job on it: compile to a Vitis HLS project and verify it by C simulation against the executor.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/make_example.py --out examples
.venv/bin/bnncc inspect examples/digits_bnn.onnx
.venv/bin/bnncc examples/digits_bnn.onnx --target fpga --csim --input examples/digits_input.npy -o out/digits_fpga
