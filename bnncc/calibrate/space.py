"""The design space calibration measures: a *design* is a small seeded network (one of the fixture families)
at one folding, written as a plain JSON object, so a sweep is a list of them and a design's key is a hash
of its JSON.

    {"family": "int_mlp", "sizes": [64, 32, 10], "weight_bits": 2, "act_bits": 2, "seed": 3,
     "folding": {"random": 7}}

`folding` is `{"random": SEED}` (every block at a seeded random legal fold, memory styles and activation
form included, at most `max_lanes` PE x SIMD lanes), `{"fps": N}` (the optimizer's folding for N images/s),
or `{"blocks": {name: fold}}` as in a folding file (a block it leaves out is folded as `--folding` does).

A sweep file is `{"format": "bnncc-sweep", "version": 1, "designs": [...]}` and/or a
`"generate": {"seed": S, "count": N}` entry that draws N random designs (`generate`). Every key is
checked before anything is measured: an unknown family or key, a width that is not a positive integer, or
a folding that does not divide its layer is a BnnccError naming the design.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from bnncc import fixtures
from bnncc.errors import BnnccError, quote
from bnncc.hw import dataflow
from bnncc.hw.block import Block
from bnncc.hw.dataflow import Dataflow

COMMON_KEYS = {"family", "seed", "folding", "name"}
MAX_LANES = 64  # PE x SIMD of one layer in a random folding: keeps every design a few seconds of synthesis


@dataclass(frozen=True)
class Family:
    builder: Callable[..., onnx.ModelProto]
    keys: dict[str, Callable[[object], object]]  # the builder's arguments a design may set, with their checks
    weight: str  # the weight kind of its layers, for reports ("binary", "int", "pow2", "shiftadd")
    # Whether its blocks also train a kind's pooled model (the fallback of the classes with few blocks). A
    # family that sweeps one corner densely (the search's XNOR-nets: 784-wide binary layers) trains only its
    # own classes: in the pooled MVAU model it outweighed the rarer classes it does not resemble (held-out
    # FF MAPE 8.3 % without it, 11.6 % with it; class-balanced weights did not help).
    pooled: bool = True


def _widths(minimum: int) -> Callable[[object], list[int]]:
    def check(v: object) -> list[int]:
        if not isinstance(v, list) or len(v) < minimum or not all(_is_int(x) and 1 <= x <= 4096 for x in v):
            raise ValueError(f"a list of >= {minimum} integers in 1..4096")
        return [int(x) for x in v]
    return check


def _choice(*values: object) -> Callable[[object], object]:
    def check(v: object) -> object:
        if v not in values or isinstance(v, bool) != isinstance(values[0], bool):
            raise ValueError(f"one of {', '.join(map(str, values))}")
        return v
    return check


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _shape(v: object) -> list[int]:
    if not isinstance(v, list) or len(v) != 3 or not all(_is_int(x) and 1 <= x <= 64 for x in v):
        raise ValueError("[channels, height, width], each 1..64")
    return [int(x) for x in v]


def _finn(topology: str, seed: int) -> onnx.ModelProto:
    from bnncc.finn_zoo import finn_model

    return finn_model(topology, seed)


def _xnor(kind: str, depth: int, width: int, seed: int) -> onnx.ModelProto:
    """The architecture search's XNOR-net (bnncc.nn.zoo.xnor_net), as the search exports it, with seeded random
    weights and BatchNorm statistics (so its thresholds are as varied as a trained network's)."""
    import torch

    from bnncc.export import build_onnx
    from bnncc.nn.zoo import xnor_net

    torch.manual_seed(seed)
    net = xnor_net(kind, depth, width)
    with torch.no_grad():
        for m in net.modules():
            if hasattr(m, "running_mean") and m.running_mean is not None:
                m.running_mean.uniform_(-4.0, 4.0)
                m.running_var.uniform_(0.5, 4.0)
                m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-1.0, 1.0)
    return build_onnx(net.eval(), net.input_shape)


def _positive(v: object) -> int:
    if not _is_int(v) or v < 1:
        raise ValueError("a positive integer")
    return int(v)


_BITS = _choice(None, 1, 2, 3, 4, 5, 6, 7, 8)
FAMILIES: dict[str, Family] = {
    "binary_mlp": Family(fixtures.binary_mlp, {"sizes": _widths(2), "input_bits": _BITS}, "binary"),
    "int_mlp": Family(fixtures.int_mlp, {"sizes": _widths(2), "weight_bits": _choice(2, 3, 4, 5, 6, 7, 8),
                                         "act_bits": _choice(2, 3, 4, 5, 6, 7, 8), "narrow": _choice(True, False)},
                      "int"),
    "pow2_mlp": Family(fixtures.pow2_mlp, {"sizes": _widths(2), "k": _choice(1, 2),
                                           "act_bits": _choice(2, 3, 4, 5, 6, 7, 8)}, "pow2"),
    "shiftadd_mlp": Family(fixtures.shiftadd_mlp, {"sizes": _widths(4), "act_bits": _choice(3, 4, 5, 6, 7, 8)},
                           "shiftadd"),
    "binary_cnn": Family(fixtures.binary_cnn, {"in_shape": _shape, "channels": _widths(1), "fc": _widths(1),
                                               "input_bits": _BITS}, "binary"),
    "shiftadd_cnn": Family(fixtures.shiftadd_cnn, {"in_shape": _shape, "channels": _widths(2), "fc": _widths(1),
                                                   "act_bits": _choice(3, 4, 5, 6, 7, 8)}, "shiftadd"),
    # the search's XNOR-nets (bnncc search deepbit): 784 -> depth x width -> 10, or a CNN (needs torch)
    "xnor": Family(_xnor, {"kind": _choice("mlp", "cnn"), "depth": _positive, "width": _positive}, "binary",
                   pooled=False),
    # FINN's topologies as Brevitas defines them (random weights; needs torch and Brevitas)
    "finn": Family(_finn, {"topology": _choice("tfc_1w1a", "tfc_1w2a", "tfc_2w2a", "sfc_1w1a", "sfc_1w2a",
                                               "sfc_2w2a", "lfc_1w1a", "lfc_1w2a", "cnv_1w1a", "cnv_1w2a",
                                               "cnv_2w2a")}, "binary"),
}


def pools(family: str | None) -> bool:
    """Whether designs of `family` train the pooled kind models too (an ingested or unknown one does)."""
    return FAMILIES[family].pooled if family in FAMILIES else True


def canonical(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(canonical(spec).encode()).hexdigest()[:16]


def label(spec: dict) -> str:
    """A short readable name: the design's own `name`, else its family and a hash."""
    return spec.get("name") or f"{spec['family']}-{spec_hash(spec)[:8]}"


def check(spec: object, where: str) -> dict:
    """The design with its values checked (a BnnccError naming `where` otherwise)."""
    if not isinstance(spec, dict):
        raise BnnccError(f"{where}: a design must be a JSON object")
    family = FAMILIES.get(spec.get("family"))  # type: ignore[arg-type]
    if family is None:
        raise BnnccError(f"{where}: unknown family {quote(str(spec.get('family')))}; known: {', '.join(FAMILIES)}")
    unknown = sorted(set(spec) - COMMON_KEYS - set(family.keys))
    if unknown:
        raise BnnccError(f"{where}: unknown key {quote(unknown[0])} for family {spec['family']} (keys: "
                         f"{', '.join(sorted(COMMON_KEYS | set(family.keys)))})")
    out = {"family": spec["family"]}
    for key, value in spec.items():
        if key in family.keys:
            try:
                out[key] = family.keys[key](value)
            except ValueError as e:
                raise BnnccError(f"{where}: {key}={json.dumps(value)}: expected {e}") from None
    if not _is_int(spec.get("seed", 0)) or not 0 <= spec.get("seed", 0) < 2**32:
        raise BnnccError(f"{where}: seed must be an integer in 0..2**32-1")
    out["seed"] = int(spec.get("seed", 0))
    if "name" in spec:
        if not isinstance(spec["name"], str) or not spec["name"].isprintable() or len(spec["name"]) > 64:
            raise BnnccError(f"{where}: name must be a printable string of at most 64 characters")
        out["name"] = spec["name"]
    out["folding"] = _check_folding(spec.get("folding", {"random": 0}), where)
    return out


def _check_folding(folding: object, where: str) -> dict:
    lanes = folding.get("max_lanes", MAX_LANES) if isinstance(folding, dict) and "random" in folding else None
    if lanes is not None:
        if not (_is_int(lanes) and lanes >= 1):
            raise BnnccError(f"{where}: folding.max_lanes must be an integer >= 1")
        folding = {k: v for k, v in folding.items() if k != "max_lanes"}
    if not isinstance(folding, dict) or len(folding) != 1 or next(iter(folding)) not in ("random", "fps", "blocks"):
        raise BnnccError(f"{where}: folding must be {{\"random\": SEED[, \"max_lanes\": N]}}, {{\"fps\": N}} or "
                         "{\"blocks\": {...}}")
    (how, value), = folding.items()
    if how == "random" and not (_is_int(value) and value >= 0):
        raise BnnccError(f"{where}: folding.random must be a seed (an integer >= 0)")
    if how == "fps" and not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                             and value > 0):
        raise BnnccError(f"{where}: folding.fps must be a number above zero")
    if how == "blocks" and not (isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())):
        raise BnnccError(f"{where}: folding.blocks must map block names to folds")
    return {how: value, "max_lanes": lanes} if lanes is not None and lanes != MAX_LANES else {how: value}


def model(spec: dict) -> onnx.ModelProto:
    """The design's ONNX model (deterministic for its seed)."""
    family = FAMILIES[spec["family"]]
    args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.items() if k in family.keys}
    try:
        return family.builder(**args, seed=spec["seed"])
    except (ValueError, TypeError) as e:  # a size the builder refuses, a key the family requires
        raise BnnccError(f"design {label(spec)}: {e}") from None


def random_fold(block: Block, rng: np.random.Generator, max_lanes: int = MAX_LANES) -> dict:
    """A random legal fold of `block`: PE x SIMD at most `max_lanes`, a random weight memory style."""
    options = block.options()
    small = [o for o in options if o.get("PE", 1) * o.get("SIMD", 1) <= max_lanes] or options[:1]
    fold = dict(small[int(rng.integers(len(small)))])
    if block.kind == "mvau":
        fold["ram_style"] = ("auto", "distributed", "block")[int(rng.integers(3))]
    return fold


def folding_kind(spec: dict) -> str:
    """random, fps or blocks."""
    return next(k for k in ("random", "fps", "blocks") if k in spec["folding"])


def folding_entries(spec: dict, df: Dataflow) -> dict[str, dict]:
    """The folding file's block entries for a design with a random or explicit folding (checked)."""
    how = folding_kind(spec)
    value = spec["folding"][how]
    if how == "random":
        rng = np.random.default_rng(value)
        return {b.name: random_fold(b, rng, spec["folding"].get("max_lanes", MAX_LANES)) for b in df.blocks}
    names = df.by_name()
    for name, entry in value.items():
        if name not in names:
            raise BnnccError(f"design {label(spec)}: folding names no block {quote(name)} (blocks: "
                             f"{', '.join(names)})")
        names[name].fold(entry)  # an illegal fold is a BnnccError naming the block
    return value


def read_sweep(path: str) -> list[dict]:
    """The designs of a sweep file, checked."""
    if not os.path.isfile(path):
        raise BnnccError(f"--sweep {path}: no such file (or give small or default)")
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BnnccError(f"--sweep {path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != "bnncc-sweep":
        raise BnnccError(f"--sweep {path}: expected a JSON object with \"format\": \"bnncc-sweep\"")
    unknown = sorted(set(data) - {"format", "version", "designs", "generate"})
    if unknown:
        raise BnnccError(f"--sweep {path}: unknown key {quote(unknown[0])}")
    if data.get("version", 1) != 1:
        raise BnnccError(f"--sweep {path}: version {data.get('version')!r} is not 1")
    designs = data.get("designs", [])
    if not isinstance(designs, list):
        raise BnnccError(f"--sweep {path}: designs must be a list")
    out = [check(d, f"--sweep {path}: designs[{i}]") for i, d in enumerate(designs)]
    if "generate" in data:
        g = data["generate"]
        bounds = {"max_width": 8, "max_lanes": 1, "max_side": 10, "max_channels": 8}  # key -> its least value
        if not isinstance(g, dict) or set(g) - {"seed", "count", *bounds} or not all(
                _is_int(v) and v >= 0 for v in g.values()) or any(g.get(k, lo) < lo for k, lo in bounds.items()):
            raise BnnccError(f"--sweep {path}: generate must be {{\"seed\": S, \"count\": N[, \"max_width\": W >= 8, "
                             "\"max_lanes\": L >= 1, \"max_side\": S >= 10, \"max_channels\": C >= 8]}")
        out += generate(int(g.get("seed", 0)), int(g.get("count", 0)), int(g.get("max_width", 256)),
                        int(g.get("max_lanes", MAX_LANES)), int(g.get("max_side", 16)), int(g.get("max_channels", 32)))
    if not out:
        raise BnnccError(f"--sweep {path}: no designs")
    return out


WIDTHS = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
SIDES = (10, 12, 14, 16, 20, 24, 28, 32)


def generate(seed: int, count: int, max_width: int = 256, max_lanes: int = MAX_LANES, max_side: int = 16,
             max_channels: int = 32) -> list[dict]:
    """`count` random designs: every family, depth 1-3, MLP widths 8-`max_width` (ShiftAdd's hidden layers at
    most 128), CNNs of images 10-`max_side` square with 4-`max_channels` channels, precisions, random foldings
    of at most `max_lanes` lanes per layer. The same arguments give the same designs (a larger bound only adds
    choices beyond the old ones, so the defaults draw what they always drew)."""
    rng = np.random.default_rng(seed)
    names = [f for f in FAMILIES if f not in ("finn", "xnor")]  # fixed networks and the search's: not drawn
    out = []
    lanes = {} if max_lanes == MAX_LANES else {"max_lanes": max_lanes}
    for i in range(count):
        family = names[i % len(names)]
        spec = {"family": family, "seed": int(rng.integers(2**31)),
                "folding": {"random": int(rng.integers(2**31)), **lanes}}
        width = lambda lo=8, hi=max_width: int(rng.choice([w for w in WIDTHS  # noqa: E731
                                                           if min(lo, max_width) <= w <= min(hi, max_width)]))
        depth = int(rng.integers(1, 4))
        if family.endswith("_mlp"):
            sizes = [width(16)] + [width(8) for _ in range(depth)] + [10]
            if family == "shiftadd_mlp":
                sizes = sizes[:1] + [width(8, 128) for _ in range(max(depth, 2))] + [10]
            spec["sizes"] = sizes
        else:
            side = int(rng.choice([s for s in SIDES if s <= max(max_side, 10)]))
            pairs = 1 if side < 16 else int(rng.integers(1, 3))
            spec["in_shape"] = [int(rng.choice([1, 3])), side, side]
            n = pairs * 2 if family == "shiftadd_cnn" else pairs
            spec["channels"] = [width(4, max_channels) for _ in range(n)]
            spec["fc"] = [10] if family == "shiftadd_cnn" or rng.random() < 0.5 else [width(8, 64), 10]
        if family == "binary_mlp" or family == "binary_cnn":
            spec["input_bits"] = [None, 8, 4][int(rng.integers(3))] if family == "binary_mlp" else 8
        if family == "int_mlp":
            spec["weight_bits"] = int(rng.choice([2, 2, 3, 4]))
            spec["act_bits"] = int(rng.choice([2, 3, 4]))
            spec["narrow"] = bool(rng.random() < 0.5)
        if family == "pow2_mlp":
            spec["k"] = int(rng.integers(1, 3))
            spec["act_bits"] = int(rng.choice([3, 4, 6]))
        if family in ("shiftadd_mlp", "shiftadd_cnn"):
            spec["act_bits"] = int(rng.choice([4, 6, 8]))
        out.append(check(spec, f"generated design {i}"))
    return out


def held_out(seed: int, count: int, topologies: tuple[str, ...] = ("tfc_1w1a", "tfc_1w2a", "sfc_1w1a",
                                                                   "lfc_1w1a"), max_width: int = 256,
             max_lanes: int = MAX_LANES) -> list[dict]:
    """The accuracy study's networks: `count` random designs drawn as `generate` draws them (another seed,
    so another set) and FINN's topologies at random foldings."""
    rng = np.random.default_rng(seed + 1)
    lanes = {} if max_lanes == MAX_LANES else {"max_lanes": max_lanes}
    finn = [check({"family": "finn", "topology": t, "seed": int(rng.integers(2**31)),
                   "folding": {"random": int(rng.integers(2**31)), **lanes}, "name": f"finn-{t}"}, f"held-out {t}")
            for t in topologies]
    return generate(seed, count, max_width, max_lanes) + finn


def dataflow_of(spec: dict):
    """(IR graph, dataflow) of a design, through the normal frontend."""
    import tempfile

    from bnncc.frontend import load

    with tempfile.TemporaryDirectory(prefix="bnncc-space-") as tmp:
        path = fixtures.save(model(spec), Path(tmp) / f"{spec['family']}.onnx")
        graph = load(str(path))
    return graph, dataflow.build(graph)


def fpga_options(spec: dict, df: Dataflow, scratch: Path, **options):
    """FpgaOptions that fold the design as its spec says: a folding file written into `scratch` (random or
    explicit folds, checked strictly) or --fps (chosen by the analytical model, which never changes with a
    calibration, so the measured folding is the one any later estimate rebuilds)."""
    from bnncc.backends.fpga.driver import FpgaOptions
    from bnncc.cost.model import ANALYTICAL

    if folding_kind(spec) == "fps":
        return FpgaOptions(fps=float(spec["folding"]["fps"]), model=ANALYTICAL, **options)
    path = scratch / "folding.json"
    path.write_text(json.dumps({"format": "bnncc-folding", "version": 1, "blocks": folding_entries(spec, df)}))
    return FpgaOptions(folding=str(path), strict_folding=True, model=ANALYTICAL, **options)


def design_of(spec: dict, part: str, clock_ns: float = 10.0):
    """(graph, Design) of a design for an FPGA part, folded as measured."""
    import tempfile

    from bnncc.backends.fpga.driver import plan

    graph, df = dataflow_of(spec)
    with tempfile.TemporaryDirectory(prefix="bnncc-space-") as tmp:
        return graph, plan(graph, fpga_options(spec, df, Path(tmp), part=part, clock_ns=clock_ns)).design


def rebuild(stored: dict):
    """The Design of a stored design (a `Store.designs()` row), rebuilt from its spec by the current code, or
    None where it cannot be here (an ingested project, a FINN topology without torch)."""
    key = stored["design_key"]
    if key not in _REBUILT:
        _REBUILT[key] = None
        if stored["spec"].get("family") in FAMILIES:
            try:
                _REBUILT[key] = design_of(stored["spec"], stored["part"], stored["settings"].get("clock_ns", 10.0))[1]
            except Exception:  # noqa: BLE001 - whatever stops a rebuild, the stored numbers stand
                pass
    return _REBUILT[key]


_REBUILT: dict = {}  # design key -> Design (a key names one design for good: its spec, part and tools)


SMALL = [  # the CI sweep: one design per block kind group, each a few seconds of Yosys
    {"family": "binary_mlp", "sizes": [32, 16, 10], "seed": 1, "folding": {"random": 1, "max_lanes": 8},
     "name": "xnor-32-16"},
    {"family": "binary_mlp", "sizes": [16, 16, 10], "input_bits": 8, "seed": 2,
     "folding": {"random": 2, "max_lanes": 8}, "name": "bipolar-16-16"},
    {"family": "int_mlp", "sizes": [16, 16, 10], "weight_bits": 2, "act_bits": 2, "seed": 3,
     "folding": {"random": 3, "max_lanes": 8}, "name": "ternary-16-16"},
    {"family": "pow2_mlp", "sizes": [16, 8, 10], "k": 2, "act_bits": 3, "seed": 4,
     "folding": {"random": 4, "max_lanes": 8}, "name": "pow2k2-16-8"},
    {"family": "shiftadd_mlp", "sizes": [16, 8, 8, 10], "act_bits": 4, "seed": 5,
     "folding": {"random": 5, "max_lanes": 8}, "name": "shiftadd-16-8-8"},
    {"family": "binary_cnn", "in_shape": [1, 8, 8], "channels": [4], "fc": [10], "input_bits": 8, "seed": 6,
     "folding": {"random": 6, "max_lanes": 8}, "name": "bcnn-8x8-4"},
]


MAX_WEIGHTS = 40_000  # the default sweep's largest network: one above this took over 10 min of Yosys on 2 cores


def weights(spec: dict) -> int:
    """The design's weights (MW x MH summed over its matrix layers)."""
    return sum(b.mw * b.mh for b in dataflow_of(spec)[1].blocks if b.kind == "mvau")


def builtin(name: str) -> list[dict]:
    """The named sweep: `small` (CI: 6 designs), `default` (the shipped calibration: those and the networks of
    at most MAX_WEIGHTS weights among 74 drawn by `generate`)."""
    if name == "small":
        return [check(d, f"small sweep design {i}") for i, d in enumerate(SMALL)]
    if name == "default":
        drawn = [d for d in generate(2026_12_01, 74) if weights(d) <= MAX_WEIGHTS]
        return [check(d, f"small sweep design {i}") for i, d in enumerate(SMALL)] + drawn
    raise BnnccError(f"--sweep {name}: not small, default or an existing sweep file")
