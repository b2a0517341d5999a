"""Test helpers (brevitas_models, qonnx_ref) live in tests/; make them importable from subfolders."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
