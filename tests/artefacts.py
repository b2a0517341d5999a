"""The byte-identity fixture: sha256 of every file bnncc generates for a fixed set of model x option cases.

    .venv/bin/python tests/artefacts.py            # compare with tests/data/artefact_hashes.json
    .venv/bin/python tests/artefacts.py --record   # rewrite it (a deliberate output change: say why in the commit)

Each case builds its model (seeded fixtures or the shared real models), copies it into a scratch folder
and compiles it there with the CLI under relative paths, so comments and report.json hold the same text
on every machine. A change to the refactored code that alters any byte shows up here as the files that
differ. `tests/test_artefacts.py` runs the comparison in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"
HASHES = Path(__file__).resolve().parent / "data" / "artefact_hashes.json"
# Keys of report.json that vary with the machine or the clock, removed before hashing (none today).
VOLATILE_KEYS: set[str] = set()


def _fixture(build: Callable[[], object]) -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        from bnncc import fixtures

        fixtures.save(build(), folder / "m.onnx")
        return "m.onnx"
    return write


def _shared(rel: str, *extra: str) -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        src = SHARED / rel
        shutil.copyfile(src, folder / "m.onnx")
        for name in extra:
            shutil.copyfile(src.parent / name, folder / name)
        return "m.onnx"
    return write


def _cases() -> dict[str, tuple[Callable[[Path], str], list[str]]]:
    from bnncc import fixtures

    zoo = "qonnx-zoo-tfc"
    return {
        "finn_tfc_folding": (_shared("finn-tfc-w1a1/model.onnx", "folding_config.json"),
                             ["--target", "fpga", "--folding", "folding_config.json", "--rtl"]),
        "zoo_tfc_1w1a": (_shared(f"{zoo}/TFC_1W1A.onnx"), ["--target", "fpga", "--fps", "20000", "--rtl"]),
        "zoo_tfc_1w2a": (_shared(f"{zoo}/TFC_1W2A.onnx"), ["--target", "fpga", "--fps", "20000", "--rtl"]),
        "zoo_tfc_2w2a": (_shared(f"{zoo}/TFC_2W2A.onnx"), ["--target", "fpga", "--fps", "50000", "--rtl",
                                                            "--part", "xczu3eg-sbva484-1-e"]),
        "lfc_fps": (_fixture(lambda: fixtures.lfc(seed=0)), ["--target", "fpga", "--fps", "10000", "--rtl"]),
        "cnv_fps": (_fixture(lambda: fixtures.cnv(seed=0)), ["--target", "fpga", "--fps", "1000", "--rtl"]),
        "pow2_k2": (_fixture(lambda: fixtures.pow2_mlp(k=2, seed=1, signed_act=True, channel_scale=True)),
                    ["--target", "fpga", "--fps", "200000", "--rtl"]),
        "shiftadd_mlp": (_fixture(lambda: fixtures.shiftadd_mlp(seed=2)), ["--target", "fpga", "--rtl"]),
        "adder_conv": (_fixture(lambda: fixtures.shiftadd_cnn(seed=3)), ["--target", "fpga", "--fps", "20000",
                                                                        "--rtl"]),
        "hostile_names": (_fixture(lambda: fixtures.with_hostile_names(fixtures.binary_cnn(seed=4, input_bits=8),
                                                                       rename_input=True)),
                          ["--target", "fpga", "--fps", "100000", "--rtl"]),
        "ecp5_mlp": (_fixture(lambda: fixtures.binary_mlp((64, 64, 32, 10), seed=5, input_bits=4)),
                     ["--target", "fpga", "--part", "LFE5U-85F-8BG381C", "--fps", "500000", "--rtl"]),
        "int_mlp_csim": (_fixture(lambda: fixtures.int_mlp(weight_bits=4, act_bits=3, narrow=False, signed=False,
                                                           seed=6, norm="affine", channel_scale=True)),
                         ["--target", "fpga", "--fps", "1000000", "--rtl", "--csim"]),
        "rram_cnn_128": (_fixture(lambda: fixtures.binary_cnn(seed=7)), ["--target", "rram", "--xbar", "128x128"]),
        "rram_tfc_256": (_shared(f"{zoo}/TFC_2W2A.onnx"), ["--target", "rram", "--xbar", "256x256",
                                                            "--encoding", "reference", "--cell-bits", "2"]),
        "rram_shiftadd_64": (_fixture(lambda: fixtures.shiftadd_mlp(seed=8)), ["--target", "rram", "--xbar", "64x32",
                                                                              "--sim"]),
    }


def _normalized(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name == "report.json" and VOLATILE_KEYS:
        report = json.loads(data)
        for key in VOLATILE_KEYS:
            report.pop(key, None)
        data = json.dumps(report, indent=1, sort_keys=True).encode()
    return data


def hash_tree(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(_normalized(p)).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_case(name: str, scratch: Path) -> dict[str, str]:
    from bnncc.cli import main

    write, args = _cases()[name]
    folder = scratch / name
    folder.mkdir(parents=True)
    model = write(folder)
    with _inside(folder), contextlib.redirect_stderr(open(os.devnull, "w")):
        code = main([model, *args, "-o", "out"])
    if code != 0:
        raise RuntimeError(f"case {name}: bnncc exited {code}")
    return hash_tree(folder / "out")


def case_names() -> list[str]:
    return list(_cases())


def all_hashes(scratch: Path) -> dict[str, dict[str, str]]:
    return {name: run_case(name, scratch) for name in case_names()}


def diff(want: dict[str, str], got: dict[str, str]) -> list[str]:
    """The files that differ, are missing or are new, one line each."""
    lines = [f"changed {f}" for f in sorted(want) if f in got and got[f] != want[f]]
    lines += [f"missing {f}" for f in sorted(want) if f not in got]
    lines += [f"new     {f}" for f in sorted(got) if f not in want]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help=f"rewrite {HASHES.relative_to(ROOT)}")
    ap.add_argument("cases", nargs="*", help="only these cases (default: all)")
    args = ap.parse_args(argv)
    names = args.cases or case_names()
    with tempfile.TemporaryDirectory(prefix="bnncc-artefacts-") as scratch:
        got = {n: run_case(n, Path(scratch)) for n in names}
    want = json.loads(HASHES.read_text()) if HASHES.is_file() else {}
    if args.record:
        HASHES.parent.mkdir(parents=True, exist_ok=True)
        HASHES.write_text(json.dumps({**want, **got}, indent=1, sort_keys=True) + "\n")
        print(f"recorded {sum(len(v) for v in got.values())} files of {len(got)} cases in {HASHES}")
        return 0
    bad = 0
    for n in names:
        lines = diff(want.get(n, {}), got[n])
        bad += bool(lines)
        print(f"{n}: {'identical' if not lines else f'{len(lines)} differences'}")
        for line in lines:
            print(f"    {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
