"""C simulation of a generated HLS project with g++ and the ap_types headers of the installed hls4ml.

Writes the test vectors (input codes, expected integers from the reference executor) into
tb/tb_data, compiles the testbench, runs it, and compares every output integer. A read from an empty
stream or data left in a stream fails the run (hls4ml's stream only warns). On a mismatch the
project is rebuilt with BNNCC_TRACE and the first differing vector is traced block by block against
the executor's per-layer trace.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bnncc.errors import BnnccError
from bnncc.hw.design import Design

FLAGS = ["-std=c++14", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas",
         # inlined ap_int code raises these two falsely at -O1 and above (see docs/architecture.md)
         "-Wno-uninitialized", "-Wno-maybe-uninitialized"]
STREAM_WARNING = "WARNING: Hls::stream"


@dataclass
class CsimResult:
    passed: bool
    vectors: int
    mismatches: int
    first_mismatch: str = ""
    first_layer: str = ""
    log: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {"passed": self.passed, "vectors": self.vectors, "mismatches": self.mismatches}
        if self.first_mismatch:
            out["first_mismatch"] = self.first_mismatch
        if self.first_layer:
            out["first_differing_layer"] = self.first_layer
        return out


def ap_types_dir() -> Path:
    try:
        import hls4ml  # noqa: F401  (only to locate its headers)
    except ImportError:
        raise BnnccError("--csim needs hls4ml's ap_types headers: run bash scripts/setup.sh") from None
    return Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


def compile_testbench(hls: Path, trace: bool = False) -> Path:
    if shutil.which("g++") is None:
        raise BnnccError("--csim needs g++ (Debian package g++)")
    exe = hls / "build" / ("csim_trace" if trace else "csim")
    exe.parent.mkdir(exist_ok=True)
    cmd = ["g++", *FLAGS, *(["-DBNNCC_TRACE"] if trace else []), "-isystem", str(ap_types_dir()),
           "-I", str(hls / "firmware"), str(hls / "tb" / "testbench.cpp"), str(hls / "firmware" / "bnncc_top.cpp"),
           "-o", str(exe)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"g++ failed on the generated project:\n{p.stderr[-4000:]}")
    return exe


def write_vectors(data: Path, design: Design, values: np.ndarray, expected: np.ndarray) -> None:
    data.mkdir(parents=True, exist_ok=True)
    fmt = design.input_format
    digits = -(-fmt.word_bits // 4)
    lines = [" ".join(f"{w:0{digits}x}" for w in image) for image in fmt.pack(values.reshape(len(values), -1))]
    (data / "input.hex").write_text("\n".join(lines) + "\n")
    rows = expected.reshape(len(expected), -1)
    (data / "expected.txt").write_text("\n".join(" ".join(map(str, r.tolist())) for r in rows) + "\n")


def _run(exe: Path, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), str(data)], capture_output=True, text=True, cwd=exe.parent)


def run(hls: Path, design: Design, values: np.ndarray, trace: dict[str, np.ndarray]) -> CsimResult:
    """values: [N, ...] hardware input values; trace: the executor's run_hardware trace."""
    hls = hls.resolve()
    data = hls / "tb" / "tb_data"
    expected = trace[design.output_tensor]
    write_vectors(data, design, values, expected)
    p = _run(compile_testbench(hls), data)
    m = re.search(r"RESULT vectors=(\d+) mismatches=(\d+)", p.stdout)
    if m is None:
        raise RuntimeError(f"the C simulation did not finish (exit {p.returncode}):\n{p.stdout[-2000:]}{p.stderr}")
    vectors, mismatches = int(m.group(1)), int(m.group(2))
    warnings = [line for line in p.stdout.splitlines() if STREAM_WARNING in line]
    mismatches += len(warnings)
    result = CsimResult(mismatches == 0 and vectors == len(values), vectors, mismatches, log=warnings[:5])
    first = next((line for line in p.stdout.splitlines() if line.startswith(("MISMATCH", "ERROR"))), "")
    result.first_mismatch = warnings[0] if warnings else first  # a stream fault is the root cause
    if not result.passed:
        result.first_layer = first_differing_layer(hls, design, values, trace, first)
    return result


def first_differing_layer(hls: Path, design: Design, values: np.ndarray, trace: dict[str, np.ndarray],
                          first: str) -> str:
    """Trace the first failing image through the C model and name the first block that differs."""
    m = re.search(r"image (\d+)", first)
    image = int(m.group(1)) if m else 0
    data = hls / "build" / "trace_data"
    expected = trace[design.output_tensor]
    write_vectors(data, design, values[image:image + 1], expected[image:image + 1])
    _run(compile_testbench(hls, trace=True), data)
    lines = (data / "trace.txt").read_text().splitlines() if (data / "trace.txt").exists() else []
    got = {line.split()[0]: np.array(line.split()[1:], dtype=np.int64) for line in lines if line.strip()}
    for s in design.stages[:-1]:
        want = trace[s.block.tensor][image].reshape(-1)
        if s.name in got and not np.array_equal(got[s.name], want):
            diff = int(np.flatnonzero(got[s.name] != want)[0]) if got[s.name].size == want.size else -1
            return f"{s.name} (image {image}, element {diff})"
    return design.stages[-1].name


def clean(hls: Path) -> None:
    shutil.rmtree(hls / "build", ignore_errors=True)
    for name in ("csim_output.txt", "trace.txt"):
        p = hls / "tb" / "tb_data" / name
        if p.exists():
            os.remove(p)
