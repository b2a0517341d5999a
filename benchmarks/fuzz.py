"""Fuzz harness: seeded mutants of real and generated models, each run through bnncc in its own process and
judged against bnncc's contract (exit codes, one-line refusals, nothing written on failure, no user file
lost, labels equal to an independent oracle's, every meaning-preserving rewrite accepted).

    .venv/bin/python benchmarks/fuzz.py [--mutants 1000] [--seed 0] [--jobs J] [--runner exec|fork]
                                                [--bases a,b,...] [--json out.json] [--work DIR]
                                                [--only INDEX ... [--keep]]

Each mutant is one mutation class applied to one base model (the bundled example, the bnncc.fixtures models,
FINN's TFC, the QONNX zoo TFCs, two Brevitas exports). It gets a sandbox of its own (``work/`` is the current
folder, ``home/`` is $HOME, ``tmp/`` is $TMPDIR) holding the model, an input batch and sentinel user files;
its commands run there under a 4 GiB address-space limit and a 60 s wall-clock limit. ``--runner exec``
(the default) starts the real ``bnncc`` console script for every command; ``--runner fork`` forks this
process (bnncc already imported) and calls ``bnncc.cli.main`` in the child, which the CI test uses to save
the interpreter start-up. Oracles (onnxruntime with graph optimizations disabled for bnncc's own dialect,
qonnx's executor for QONNX / FINN-ONNX, never bnncc's interpreter) always run in forked children under the
same limits, so a mutant that hangs or exhausts the oracle cannot take the harness with it.

Mutant ``i`` of seed ``s`` depends only on (s, i) and the base list: one in four is meaning-preserving (the
preserving classes in turn), the others draw a class at random; ``--only i`` reruns it alone.

Outcomes (one per mutant, the most severe that applies; every flag is kept in the JSON):
    deletion        a file or folder that was there before a command is gone or changed (sentinels sit in the
                    current folder, its parent, $HOME, inside and beside -o)
    crash           exit code not 0/1/2, a signal, a traceback or "Exception ignored" on stderr, a refusal that
                    is not exactly one printable "bnncc: error:" line, exit 1 without a verification, --json
                    output that does not parse
    hang            no answer within the limit (the child's process group is killed)
    silent-wrong    `run` exited 0 with labels other than the oracle's
    leftover        a refused command wrote something, a ".bnncc-*" temporary was left, or an output folder's
                    .bnncc-output.json does not list exactly its files
    refused-valid   a meaning-preserving mutant refused by any of its commands
    design-changed  a meaning-preserving mutant compiled to another design than its base (report.json: FPGA
                    blocks with cycles and resources, RRAM layers with their crossbars)
    -- the failures above; reported, not failures: --
    verification-failed      exit 1 from --csim / --sim
    refused-internal         a clean refusal from bnncc's catch-all handler ("set BNNCC_DEBUG=1 for a
                             traceback"): well-formed, but it cannot name the node or op at fault
    oracle-invalid-accepted  bnncc accepted what the oracle cannot load or run
    ok-correct, refused      accepted with the oracle's labels; refused cleanly
Records also carry notes: --json output with NaN/Infinity (not RFC 8259 JSON), a meaning-preserving mutant
the oracle rejected (then compared with the base's labels).

The table (mutation class x outcome) goes to stdout; ``--json`` writes every mutant's record (class, base,
what was changed, commands, exit codes, stderr tails, labels) and, for each failure, the command line that
reruns just that mutant.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import hashlib
import io
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))  # qonnx_ref and brevitas_models are test helpers

from bnncc import fixtures  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
FINN_TFC = SHARED / "finn-tfc-w1a1"
QONNX_ZOO = SHARED / "qonnx-zoo-tfc"

TIME_LIMIT_S = 60.0
ADDRESS_SPACE_LIMIT = 4 * 1024**3
MAX_IMAGES = 16
STDERR_TAIL = 2000

# -- outcomes ------------------------------------------------------------------------------------------------

OK = "ok-correct"
REFUSED = "refused"
VERIFY_FAILED = "verification-failed"
CRASH = "crash"
HANG = "hang"
LEFTOVER = "leftover"
SILENT_WRONG = "silent-wrong"
DELETION = "deletion"
REFUSED_VALID = "refused-valid"
DESIGN_CHANGED = "design-changed"
REFUSED_INTERNAL = "refused-internal"
ORACLE_INVALID_ACCEPTED = "oracle-invalid-accepted"

# Table columns, in the order the brief lists them (refused-internal added next to the clean refusals).
COLUMNS = (OK, REFUSED, REFUSED_INTERNAL, VERIFY_FAILED, CRASH, HANG, LEFTOVER, SILENT_WRONG, DELETION,
           REFUSED_VALID, DESIGN_CHANGED, ORACLE_INVALID_ACCEPTED)
# A mutant's outcome is the first of these that it earned.
SEVERITY = (DELETION, CRASH, HANG, SILENT_WRONG, LEFTOVER, REFUSED_VALID, DESIGN_CHANGED, VERIFY_FAILED,
            REFUSED_INTERNAL, ORACLE_INVALID_ACCEPTED, OK, REFUSED)
FAILURES = frozenset({DELETION, CRASH, HANG, SILENT_WRONG, LEFTOVER, REFUSED_VALID, DESIGN_CHANGED})

INTERNAL_ERROR_HINT = "set BNNCC_DEBUG=1 for a traceback"
# Where the exec runner's children import bnncc from: a copy of the package taken when the campaign starts
# (run_campaign(freeze=True)), so that edits to the working tree during a long run do not mix two versions.
_FROZEN_BNNCC: Path | None = None


# ============================================================================================================
# Base models
# ============================================================================================================


@dataclasses.dataclass
class Base:
    """A model every mutant starts from, with its input batch and what the unmutated model does."""

    name: str
    flavor: str  # "dialect" (onnxruntime oracle) or "qonnx" (qonnx executor oracle)
    model_path: Path
    input_path: Path
    model: onnx.ModelProto = dataclasses.field(repr=False)
    inputs: np.ndarray = dataclasses.field(repr=False)
    elem_types: dict[str, int] = dataclasses.field(default_factory=dict, repr=False)
    oracle_labels: list[int] | None = None
    bnncc_labels: list[int] | None = None
    targets: tuple[str, ...] = ()  # compile targets the unmutated model is accepted for
    outputs: dict[str, Path] = dataclasses.field(default_factory=dict)  # target -> a bnncc output folder
    designs: dict[str, list | None] = dataclasses.field(default_factory=dict)  # target -> design_signature
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def model_bytes(self) -> bytes:
        return self.model_path.read_bytes()

    def copy(self) -> onnx.ModelProto:
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        return m


FIXTURE_BASES: dict[str, Callable[[], onnx.ModelProto]] = {
    "binary_mlp": lambda: fixtures.binary_mlp(seed=0),
    "binary_cnn_in8": lambda: fixtures.binary_cnn(seed=0, input_bits=8),
    "int_mlp": lambda: fixtures.int_mlp(seed=0),
    "pow2_mlp": lambda: fixtures.pow2_mlp(seed=0),
    "shiftadd_mlp": lambda: fixtures.shiftadd_mlp(seed=0),
}
ALL_BASES = ("example", *FIXTURE_BASES, "finn_tfc", "zoo_TFC_1W1A", "zoo_TFC_1W2A", "zoo_TFC_2W2A",
             "brevitas_binary_mlp", "brevitas_w2a2_mlp")

_BREVITAS_SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
import brevitas_models as b
b.binary_mlp({binary!r}, seed=0)
b.w2a2_mlp({w2a2!r}, seed=0)
np.save({inputs!r}, b.random_inputs((64,), 8, seed=1))
"""


def prepare_bases(folder: Path, names: Sequence[str] = ALL_BASES) -> list[Base]:
    """Write every base model and its input batch under ``folder`` (reused when already there). The torch-based
    builders run in subprocesses, so this process has no torch threads when it forks."""
    folder.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    example_dir = folder / "example"
    if "example" in names and not (example_dir / "digits_bnn.onnx").exists():
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "examples" / "make_example.py"), "--out",
                                       str(example_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    brevitas_dir = folder / "brevitas"
    if any(n.startswith("brevitas_") for n in names) and not (brevitas_dir / "inputs.npy").exists():
        brevitas_dir.mkdir(exist_ok=True)
        script = _BREVITAS_SCRIPT.format(tests=str(ROOT / "tests"), binary=str(brevitas_dir / "binary_mlp.onnx"),
                                         w2a2=str(brevitas_dir / "w2a2_mlp.onnx"),
                                         inputs=str(brevitas_dir / "inputs.npy"))
        procs.append(subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))
    bases: list[Base] = []
    noise = np.random.default_rng(2026).integers(0, 256, (4, 1, 28, 28)).astype(np.float32)
    digits = np.concatenate([np.load(FINN_TFC / "input.npy"), noise])  # FINN's 4 digits + 4 noise images
    for name in names:
        if name in FIXTURE_BASES:
            model = FIXTURE_BASES[name]()
            path = fixtures.save(model, folder / name / "model.onnx")
            bases.append(_base(name, "dialect", path, fixtures.random_inputs(model, MAX_IMAGES, seed=1), folder))
        elif name == "finn_tfc":
            bases.append(_base(name, "qonnx", FINN_TFC / "model.onnx", digits, folder))  # pixels 0..255
        elif name.startswith("zoo_"):
            bases.append(_base(name, "qonnx", QONNX_ZOO / f"{name[4:]}.onnx", digits / 255.0, folder))
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"building a base model failed: {p.args}: {err.decode(errors='replace')[-2000:]}")
    if "example" in names:
        bases.append(_base("example", "dialect", example_dir / "digits_bnn.onnx",
                           np.load(example_dir / "digits_input.npy"), folder))
    for name, file in (("brevitas_binary_mlp", "binary_mlp.onnx"), ("brevitas_w2a2_mlp", "w2a2_mlp.onnx")):
        if name in names:
            bases.append(_base(name, "qonnx", brevitas_dir / file, np.load(brevitas_dir / "inputs.npy"), folder))
    order = {n: i for i, n in enumerate(ALL_BASES)}
    return sorted(bases, key=lambda b: order[b.name])


def _base(name: str, flavor: str, path: Path, x: np.ndarray, folder: Path) -> Base:
    x = np.ascontiguousarray(x[:MAX_IMAGES], dtype=np.float32)
    input_path = folder / name / "input.npy"
    input_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(input_path, x)
    model = onnx.load(str(path))
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # custom domains: whatever inference manages is enough, the types are a convenience
        inferred = model
    g = inferred.graph
    types = {vi.name: vi.type.tensor_type.elem_type for vi in (*g.input, *g.output, *g.value_info)}
    types.update({t.name: t.data_type for t in g.initializer})
    return Base(name, flavor, Path(path), input_path, model, x, types)


# ============================================================================================================
# Graph helpers for the mutations
# ============================================================================================================

FLOAT = TensorProto.FLOAT


def initializer_names(g: onnx.GraphProto) -> set[str]:
    return {t.name for t in g.initializer}


def data_inputs(g: onnx.GraphProto) -> list[str]:
    inits = initializer_names(g)
    return [i.name for i in g.input if i.name not in inits]


def producers(g: onnx.GraphProto) -> dict[str, int]:
    return {o: i for i, n in enumerate(g.node) for o in n.output if o}


def all_tensor_names(g: onnx.GraphProto) -> list[str]:
    names = [i.name for i in g.input] + [t.name for t in g.initializer]
    names += [o for n in g.node for o in n.output if o]
    return list(dict.fromkeys(names))


def fresh_name(g: onnx.GraphProto, stem: str) -> str:
    taken = set(all_tensor_names(g)) | {o.name for o in g.output} | {n.name for n in g.node}
    k = 0
    while f"{stem}_{k}" in taken:
        k += 1
    return f"{stem}_{k}"


def float_edges(g: onnx.GraphProto, types: dict[str, int], activations_only: bool = True) -> list[tuple[int, int]]:
    """(node index, input slot) of every input that is a float32 tensor (activations: not an initializer)."""
    inits = initializer_names(g)
    return [(j, s) for j, n in enumerate(g.node) for s, t in enumerate(n.input)
            if t and types.get(t) == FLOAT and (not activations_only or t not in inits)]


def insert_on_edge(g: onnx.GraphProto, j: int, slot: int, make: Callable[[str, str], list[onnx.NodeProto]]) -> None:
    """Put the nodes ``make(src, dst)`` (reading src, writing dst) between a tensor and input ``slot`` of node
    ``j``; they go right before node j, which keeps the file in topological order."""
    node = g.node[j]
    src = node.input[slot]
    dst = fresh_name(g, "fz_edge")
    node.input[slot] = dst
    nodes = list(g.node)
    set_nodes(g, nodes[:j] + make(src, dst) + nodes[j:])


def insert_before_output(g: onnx.GraphProto, make: Callable[[str, str], list[onnx.NodeProto]]) -> bool:
    """Put ``make(src, out)`` between the producer of the first graph output and that output."""
    out = g.output[0].name
    prod = producers(g)
    if out not in prod:
        return False
    p = prod[out]
    src = fresh_name(g, "fz_pre_out")
    node = g.node[p]
    node.output[list(node.output).index(out)] = src
    for later in g.node[p + 1:]:
        later.input[:] = [src if t == out else t for t in later.input]
    nodes = list(g.node)
    set_nodes(g, nodes[:p + 1] + make(src, out) + nodes[p + 1:])
    return True


def set_nodes(g: onnx.GraphProto, nodes: Iterable[onnx.NodeProto]) -> None:
    nodes = [_copy(n, onnx.NodeProto) for n in nodes]  # copies first: clearing the field frees the originals
    g.ClearField("node")
    g.node.extend(nodes)


def _copy(message, kind):
    c = kind()
    c.CopyFrom(message)
    return c


def opset_version(m: onnx.ModelProto, domain: str = "") -> int:
    for o in m.opset_import:
        if o.domain in ((domain,) if domain else ("", "ai.onnx")):
            return o.version
    return 0


def attr(node: onnx.NodeProto, name: str) -> onnx.AttributeProto | None:
    for a in node.attribute:
        if a.name == name:
            return a
    return None


def set_attr(node: onnx.NodeProto, name: str, value: object) -> None:
    keep = [_copy(a, onnx.AttributeProto) for a in node.attribute if a.name != name]
    node.ClearField("attribute")
    node.attribute.extend(keep + [helper.make_attribute(name, value)])


def del_attr(node: onnx.NodeProto, name: str) -> None:
    keep = [_copy(a, onnx.AttributeProto) for a in node.attribute if a.name != name]
    node.ClearField("attribute")
    node.attribute.extend(keep)


def initializer(g: onnx.GraphProto, name: str) -> onnx.TensorProto | None:
    for t in g.initializer:
        if t.name == name:
            return t
    return None


def replace_initializer(g: onnx.GraphProto, name: str, value: np.ndarray) -> None:
    t = initializer(g, name)
    assert t is not None
    t.CopyFrom(numpy_helper.from_array(np.asarray(value), name))


def quant_nodes(g: onnx.GraphProto) -> list[onnx.NodeProto]:
    return [n for n in g.node if n.op_type in ("Quant", "IntQuant")]


def choice(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


# ============================================================================================================
# Mutations
# ============================================================================================================


@dataclasses.dataclass
class Command:
    """One bnncc invocation: its argv (paths relative to work/) and what the harness needs to judge it."""

    kind: str  # inspect | run | fpga | rram
    argv: list[str]
    dest: str | None = None  # the folder a compile writes (fpga: -o; rram: -o/rram), relative to work/
    output: str | None = None  # run --output
    verifies: bool = False  # exit 1 (verification failed) is a legitimate answer
    labels: bool = False  # run --json: stdout carries labels


@dataclasses.dataclass
class Plan:
    """What a mutation builds: the sandbox's files and the commands to run in it."""

    detail: str
    model: bytes | None = None  # written to work/<model_rel> (None: the mutation lays out the model itself)
    model_rel: str = "model.onnx"
    input: bytes | None = None  # written to work/<input_rel> (None: the base's input)
    input_rel: str = "input.npy"
    input_missing: bool = False  # no input file at all
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)  # sandbox-relative -> content
    dirs: list[str] = dataclasses.field(default_factory=list)
    symlinks: dict[str, str] = dataclasses.field(default_factory=dict)  # sandbox-relative -> target
    copies: dict[str, Path] = dataclasses.field(default_factory=dict)  # sandbox-relative -> folder to copy
    edits: list[Callable[[Path], None]] = dataclasses.field(default_factory=list)  # run after the copies
    commands: list[Command] = dataclasses.field(default_factory=list)


class Ctx:
    """What a mutation builder gets: the seeded generator and the base."""

    def __init__(self, rng: np.random.Generator, base: Base) -> None:
        self.rng = rng
        self.base = base

    def p(self, probability: float) -> bool:
        return bool(self.rng.random() < probability)

    def pick(self, items: Sequence):
        return choice(self.rng, items)


def cmd_inspect(model: str, as_json: bool = False) -> Command:
    return Command("inspect", ["inspect", model] + (["--json"] if as_json else []))


def cmd_run(model: str, inp: str = "input.npy", output: str | None = None) -> Command:
    argv = ["run", model, "--input", inp, "--json"] + (["--output", output] if output else [])
    return Command("run", argv, output=output, labels=True)


def cmd_fpga(model: str, out: str = "out", csim_input: str | None = None) -> Command:
    extra = ["--csim", "--input", csim_input] if csim_input else []
    return Command("fpga", [model, "--target", "fpga", "-o", out, *extra], dest=out, verifies=bool(csim_input))


def cmd_rram(model: str, out: str = "out", sim_input: str | None = None) -> Command:
    extra = ["--input", sim_input] if sim_input else []
    return Command("rram", [model, "--target", "rram", "-o", out, *extra], dest=os.path.join(out, "rram"),
                   verifies=bool(sim_input))


def primary_command(ctx: Ctx, model: str = "model.onnx") -> Command:
    """inspect or run (the cheapest commands that read the whole model) mostly, a compile for 30 %."""
    r = ctx.rng.random()
    if r < 0.35:
        return cmd_inspect(model, as_json=ctx.p(0.5))
    if r < 0.7:
        return cmd_run(model)
    out = ctx.pick(["out", "out", "build/out", "new/deep/out"])  # build/ holds a sentinel, new/ does not exist
    return cmd_fpga(model, out) if r < 0.85 else cmd_rram(model, out)


def serialize(m: onnx.ModelProto) -> bytes:
    return m.SerializeToString(deterministic=True)


def model_plan(ctx: Ctx, m: onnx.ModelProto | None, detail: str | None, preserving: bool = False) -> Plan | None:
    if m is None or detail is None:
        return None
    if preserving:  # must run with the oracle's labels, and compile (and verify) wherever the base compiles
        cmds = [cmd_run("model.onnx")]
        for t in ctx.base.targets:
            if ctx.p(0.3):
                verify = "input.npy" if ctx.p(0.15) else None  # names end up in the generated C++: compile it
                cmds.append(cmd_fpga("model.onnx", "out-fpga", verify) if t == "fpga"
                            else cmd_rram("model.onnx", "out-rram", verify))
        return Plan(detail, model=serialize(m), commands=cmds)
    return Plan(detail, model=serialize(m), commands=[primary_command(ctx)])


# -- meaning-preserving --------------------------------------------------------------------------------------

HOSTILE_PIECES = ("../", "*/", "/*", '"', "'", "$", "${HOME}", "{", "}", "{{x}}", "\n", "\t", " ", "\\", "`",
                  "%s", "%n", "<>", "&", ";", "|", "λ", "ü", "€", "模型", "😀", "\u202e", "\x1b[31m", "#", "//",
                  "--", "\r\n", "(", ")", "[", "]", ":", ",", ".", "..", "~", "\\x00", "NaN", "-1", "=", "@")


def hostile_name(rng: np.random.Generator, k: int) -> str:
    pieces = [choice(rng, HOSTILE_PIECES) for _ in range(int(rng.integers(1, 5)))]
    return "".join(pieces) + f"{k}" + choice(rng, HOSTILE_PIECES)


def topological_reorder(m: onnx.ModelProto, rng: np.random.Generator) -> onnx.ModelProto | None:
    """The nodes in a random topological order (a ready node is drawn at random at every step)."""
    g = m.graph
    if len(g.node) < 2:
        return None
    available = set(initializer_names(g)) | {i.name for i in g.input} | {""}
    pending = list(range(len(g.node)))
    order: list[int] = []
    while pending:
        ready = [j for j in pending if all(t in available for t in g.node[j].input)]
        if not ready:  # unreachable inputs in the base: keep the rest as written
            order += pending
            break
        j = choice(rng, ready)
        pending.remove(j)
        order.append(j)
        available.update(g.node[j].output)
    if order == sorted(order):
        return None
    set_nodes(g, [g.node[j] for j in order])
    return m


def mutate_reorder(ctx: Ctx) -> Plan | None:
    m = topological_reorder(ctx.base.copy(), ctx.rng)
    return model_plan(ctx, m, "nodes in another topological order", preserving=True)


def rename_everything(m: onnx.ModelProto, rng: np.random.Generator, keep_io: bool, node_names: str,
                      functions: bool) -> None:
    g = m.graph
    keep = set()
    if keep_io:
        keep = set(data_inputs(g)) | {o.name for o in g.output}
    mapping: dict[str, str] = {}

    def t(name: str) -> str:
        if not name or name in keep:
            return name
        if name not in mapping:
            mapping[name] = hostile_name(rng, len(mapping))
        return mapping[name]

    fixtures.rename_graph(g, t, lambda k, _: hostile_name(rng, 10_000 + k) if node_names == "hostile" else "")
    g.name = hostile_name(rng, 77)
    if functions:
        for f in m.functions:
            fmap: dict[str, str] = {}

            def ft(name: str, fmap: dict[str, str] = fmap) -> str:
                if name and name not in fmap:
                    fmap[name] = hostile_name(rng, 20_000 + len(fmap))
                return fmap.get(name, name)

            fixtures.rename_function(f, ft, lambda k, _: hostile_name(rng, 30_000 + k))


def mutate_rename(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    keep_io = ctx.p(0.3)
    # node names must be unique in a graph (ONNX IR.md): a shared name is a graph:duplicate-node mutant
    node_names = ctx.pick(["hostile", "hostile", "empty"])
    functions = bool(m.functions) and ctx.p(0.5)
    rename_everything(m, ctx.rng, keep_io, node_names, functions)
    detail = (f"every tensor renamed to hostile strings ({'graph inputs/outputs kept' if keep_io else 'all'}; "
              f"node names {node_names}{'; function bodies too' if functions else ''})")
    return model_plan(ctx, m, detail, preserving=True)


def _identity(a: str, b: str) -> list[onnx.NodeProto]:
    return [helper.make_node("Identity", [a], [b], name=f"fz_identity_{b}")]


def mutate_identity(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    done = []
    for _ in range(int(ctx.rng.integers(1, 4))):
        weights = ctx.p(0.3)
        inits = initializer_names(g)
        edges = [(j, s) for j, n in enumerate(g.node) for s, t in enumerate(n.input) if t and ((t in inits) == weights)]
        if ctx.p(0.15) or not edges:
            if insert_before_output(g, _identity):
                done.append("before the graph output")
            continue
        j, s = ctx.pick(edges)
        done.append(f"on input {s} of {g.node[j].op_type} {g.node[j].name!r}")
        insert_on_edge(g, j, s, _identity)
    return model_plan(ctx, m, "Identity inserted " + "; ".join(done) if done else None, preserving=True)


def mutate_identity_cast(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    edges = float_edges(g, ctx.base.elem_types)
    if not edges:
        return None
    j, s = ctx.pick(edges)
    detail = f"Cast(to=FLOAT) of a float tensor on input {s} of {g.node[j].op_type} {g.node[j].name!r}"
    insert_on_edge(g, j, s, lambda a, b: [helper.make_node("Cast", [a], [b], name="fz_cast", to=FLOAT)])
    return model_plan(ctx, m, detail, preserving=True)


def mutate_constant_nodes(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    inits = list(g.initializer)
    if not inits:
        return None
    chosen = inits if ctx.p(0.5) else [t for t in inits if ctx.p(0.5)] or [inits[0]]
    names = {t.name for t in chosen}
    consts = [helper.make_node("Constant", [], [t.name], name=f"fz_const_{k}", value=_copy(t, onnx.TensorProto))
              for k, t in enumerate(chosen)]
    keep = [_copy(t, onnx.TensorProto) for t in inits if t.name not in names]
    g.ClearField("initializer")
    g.initializer.extend(keep)
    inputs = [_copy(i, onnx.ValueInfoProto) for i in g.input if i.name not in names]
    g.ClearField("input")
    g.input.extend(inputs)
    set_nodes(g, consts + list(g.node))
    return model_plan(ctx, m, f"{len(chosen)} of {len(inits)} initializers as Constant nodes", preserving=True)


def _spatial_rank(g: onnx.GraphProto, node: onnx.NodeProto) -> int | None:
    ks = attr(node, "kernel_shape")
    if ks is not None:
        return len(ks.ints)
    if node.op_type == "Conv" and len(node.input) > 1:
        w = initializer(g, node.input[1])
        if w is not None:
            return len(w.dims) - 2
    return None


def default_attributes(m: onnx.ModelProto, node: onnx.NodeProto) -> dict[str, object]:
    """The attributes whose default the ONNX (or QONNX) spec defines for this op at this opset."""
    opset = opset_version(m)
    op = node.op_type
    k = _spatial_rank(m.graph, node) if op in ("Conv", "MaxPool") else None
    d: dict[str, object] = {}
    if op == "Conv" and k:
        d = {"auto_pad": "NOTSET", "dilations": [1] * k, "group": 1, "strides": [1] * k, "pads": [0] * (2 * k)}
    elif op == "MaxPool" and k:
        d = {"auto_pad": "NOTSET", "ceil_mode": 0, "pads": [0] * (2 * k), "strides": [1] * k}
        if opset >= 8:
            d["storage_order"] = 0
        if opset >= 10:
            d["dilations"] = [1] * k
    elif op == "Flatten":
        d = {"axis": 1}
    elif op == "Gemm":
        d = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
    elif op == "BatchNormalization":
        d = {"epsilon": 1e-5, "momentum": 0.9}
        if opset >= 14:
            d["training_mode"] = 0
    elif op == "Gather":
        d = {"axis": 0}
    elif op == "TopK":
        d = {"axis": -1, "largest": 1, "sorted": 1} if opset >= 11 else {"axis": -1}
    elif op == "Reshape" and opset >= 14:
        d = {"allowzero": 0}
    elif op in ("Quant", "IntQuant"):
        d = {"rounding_mode": "ROUND"}
    elif op == "MultiThreshold":
        d = {"out_scale": 1.0, "out_bias": 0.0}
    return d


def _attr_equals(a: onnx.AttributeProto, value: object) -> bool:
    got = helper.get_attribute_value(a)
    if isinstance(value, float):
        return isinstance(got, float) and np.float32(got) == np.float32(value)
    if isinstance(value, str):
        return got in (value, value.encode())
    if isinstance(value, list):
        return list(got) == value
    return got == value


def mutate_explicit_defaults(ctx: Ctx) -> Plan | None:
    """Defaults written out where they were implicit, dropped where they were written out, attributes shuffled."""
    m = ctx.base.copy()
    changes = []
    for node in m.graph.node:
        for name, value in default_attributes(m, node).items():
            a = attr(node, name)
            if a is None and ctx.p(0.7):
                set_attr(node, name, value)
                changes.append(f"{node.op_type}.{name}={value!r} added")
            elif a is not None and _attr_equals(a, value) and ctx.p(0.5):
                del_attr(node, name)
                changes.append(f"{node.op_type}.{name} (the default) removed")
        if node.op_type == "Conv" and attr(node, "kernel_shape") is not None and ctx.p(0.2):
            del_attr(node, "kernel_shape")  # optional: inferred from the weights
            changes.append("Conv.kernel_shape removed")
        if len(node.attribute) > 1 and ctx.p(0.5):
            attrs = [_copy(node.attribute[int(i)], onnx.AttributeProto)
                     for i in ctx.rng.permutation(len(node.attribute))]
            node.ClearField("attribute")
            node.attribute.extend(attrs)
    if not changes:
        return None
    shown = "; ".join(changes[:6]) + (f"; ... ({len(changes)} in all)" if len(changes) > 6 else "")
    return model_plan(ctx, m, "equivalent attribute spelling: " + shown, preserving=True)


def mutate_initializers_as_inputs(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    listed = {i.name for i in g.input}
    missing = [t for t in g.initializer if t.name not in listed]
    if not missing:
        return None
    for t in missing:
        g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    # a name is described once: an input's value_info entry moves into the input (FINN's files carry both)
    names = {t.name for t in missing}
    infos = [_copy(vi, onnx.ValueInfoProto) for vi in g.value_info if vi.name not in names]
    g.ClearField("value_info")
    g.value_info.extend(infos)
    return model_plan(ctx, m, f"{len(missing)} initializers also listed as graph inputs", preserving=True)


PRESERVING_SINGLE: dict[str, Callable[[Ctx], Plan | None]] = {
    "reorder": mutate_reorder,
    "rename": mutate_rename,
    "identity": mutate_identity,
    "identity-cast": mutate_identity_cast,
    "constant-nodes": mutate_constant_nodes,
    "explicit-defaults": mutate_explicit_defaults,
    "inits-as-inputs": mutate_initializers_as_inputs,
}


def mutate_preserving_mix(ctx: Ctx) -> Plan | None:
    """Two or three preserving rewrites on top of each other (e.g. Constant nodes, then reordered, renamed)."""
    names = [n for n in PRESERVING_SINGLE if n != "rename"]
    chosen = [names[int(i)] for i in ctx.rng.choice(len(names), int(ctx.rng.integers(2, 4)), replace=False)]
    if ctx.p(0.5):
        chosen.append("rename")  # last: the others look tensors up by name
    details = []
    current = ctx.base
    for name in chosen:
        plan = PRESERVING_SINGLE[name](Ctx(ctx.rng, current))
        if plan is None:
            continue
        details.append(plan.detail)
        current = dataclasses.replace(current, model=onnx.load_from_string(plan.model))
    if len(details) < 2:
        return None
    return model_plan(ctx, current.model, " + ".join(details), preserving=True)


# -- structural ----------------------------------------------------------------------------------------------


def mutate_delete_node(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    if not g.node:
        return None
    j = int(ctx.rng.integers(len(g.node)))
    node = g.node[j]
    detail = f"{node.op_type} {node.name!r} deleted"
    if ctx.p(0.5) and node.input and node.input[0] and node.output:
        # its readers read its first input instead: often still a valid model, with another meaning
        src, out = node.input[0], node.output[0]
        for n in g.node:
            n.input[:] = [src if t == out else t for t in n.input]
        for o in g.output:
            if o.name == out:
                o.name = src
        detail += ", its readers fed its first input"
    set_nodes(g, [n for k, n in enumerate(g.node) if k != j])
    return model_plan(ctx, m, detail)


def mutate_duplicate_node(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    if len(g.node) < 2:
        return None
    j = int(ctx.rng.integers(len(g.node)))
    dup = _copy(g.node[j], onnx.NodeProto)
    variant = ctx.pick(["dead", "dead", "same outputs", "same name"])
    if variant == "same name":  # another node takes this one's name (node names are unique, IR.md)
        other = g.node[(j + 1) % len(g.node)]
        other.name = g.node[j].name
        return model_plan(ctx, m, f"{other.op_type} node renamed to {other.name!r}, the name of another node")
    if variant == "dead":  # a copy nobody reads: valid ONNX that must not change the answer
        dup.output[:] = [fresh_name(g, "fz_dup") for _ in dup.output]
        dup.name = fresh_name(g, "fz_dup_node")
    nodes = list(g.node)
    set_nodes(g, nodes[:j + 1] + [dup] + nodes[j + 1:])
    kind = "with fresh (unread) outputs" if variant == "dead" else "writing the same outputs"
    return model_plan(ctx, m, f"{dup.op_type} {g.node[j].name!r} duplicated {kind}")


def mutate_swap_inputs(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    cands = [n for n in m.graph.node if len([t for t in n.input if t]) >= 2]
    if not cands:
        return None
    node = ctx.pick(cands)
    a, b = (int(i) for i in ctx.rng.choice(len(node.input), 2, replace=False))
    node.input[a], node.input[b] = node.input[b], node.input[a]
    return model_plan(ctx, m, f"inputs {a} and {b} of {node.op_type} {node.name!r} swapped")


def mutate_retarget_input(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    slots = [(j, s) for j, n in enumerate(g.node) for s, t in enumerate(n.input) if t]
    if not slots:
        return None
    j, s = ctx.pick(slots)
    target = ctx.pick([*all_tensor_names(g), "fz_nonexistent", ""])
    old = g.node[j].input[s]
    g.node[j].input[s] = target
    return model_plan(ctx, m, f"input {s} of {g.node[j].op_type} {g.node[j].name!r}: {old!r} -> {target!r}")


def mutate_double_write(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    if len(g.node) < 2:
        return None
    j = int(ctx.rng.integers(len(g.node)))
    node = g.node[j]
    others = [o for k, n in enumerate(g.node) if k != j for o in n.output if o]
    target = ctx.pick(others + data_inputs(g))
    old = node.output[0]
    node.output[0] = target
    return model_plan(ctx, m, f"{node.op_type} {node.name!r} writes {target!r} (a tensor already written) "
                              f"instead of {old!r}")


def mutate_shadow_initializer(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    inits = list(g.initializer)
    r = ctx.rng.random()
    data = data_inputs(g)
    if r < 0.4 and data:
        # an initializer named like the data input: the fed value must win (ONNX IR >= 4), onnxruntime runs it
        noise = ctx.rng.standard_normal((1, *ctx.base.inputs.shape[1:])).astype(np.float32)
        g.initializer.append(numpy_helper.from_array(noise, data[0]))
        return model_plan(ctx, m, f"an initializer named like the data input {data[0]!r} (the feed must win)")
    if not inits or not g.node:
        return None
    t = ctx.pick(inits)
    if r < 0.7:
        node = ctx.pick(list(g.node))
        old = node.output[0]
        node.output[0] = t.name
        return model_plan(ctx, m, f"{node.op_type} {node.name!r} writes initializer {t.name!r} instead of {old!r}")
    arr = numpy_helper.to_array(t)
    dup = numpy_helper.from_array(-arr if arr.dtype.kind == "f" else arr, t.name)
    g.initializer.append(dup)
    return model_plan(ctx, m, f"initializer {t.name!r} defined twice (the second copy negated)")


UNKNOWN_OPS = ("FooBar", "matmul", "Conv2D", "MatMulInteger", "QuantizeLinear", "Quant", "Sign", "Softmax",
               "LSTM", "Loop", "If", "Einsum", "Scan")


def mutate_unknown_op(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    if not m.graph.node:
        return None
    node = ctx.pick(list(m.graph.node))
    old = f"{node.domain}:{node.op_type}"
    if node.domain and ctx.p(0.3):
        node.domain = ctx.pick(["", "com.example.unknown", "onnx.brevitas", "finn"])
    else:
        node.op_type = ctx.pick(UNKNOWN_OPS)
    return model_plan(ctx, m, f"{node.name!r}: {old} -> {node.domain}:{node.op_type}")


ESCAPES = ("\x1b[2J\x1b[H", "Op\nName", "\rCR", "\x00nul", "\u202eRTL", "\ttab", "\x07bell", "\x1b]0;title\x07",
           "\u0085nel", "\u2028ls", "\x7fdel", "a\\nb")


def mutate_escape_op(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    if not m.graph.node:
        return None
    node = ctx.pick(list(m.graph.node))
    node.op_type = f"Evil{ctx.pick(ESCAPES)}Op"
    if ctx.p(0.5):
        node.name = f"node{ctx.pick(ESCAPES)}name"
    if ctx.p(0.3):
        node.domain = f"dom{ctx.pick(ESCAPES)}"
    return model_plan(ctx, m, f"op type {node.op_type!r}, node name {node.name!r}, domain {node.domain!r}")


def mutate_attribute_type(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    nodes = [n for n in m.graph.node if n.attribute]
    if not nodes:
        return None
    node = ctx.pick(nodes)
    a = ctx.pick(list(node.attribute))
    value = helper.get_attribute_value(a)
    if ctx.p(0.25):  # the type field says one thing, the payload another
        a.type = ctx.pick([t for t in (1, 2, 3, 4, 6, 7, 8) if t != a.type])
        detail = f"{node.op_type}.{a.name}: type field set to {onnx.AttributeProto.AttributeType.Name(a.type)}"
    else:
        new = ctx.pick([v for v in (1.5, 7, "seven", [1, 2], [0.5], b"\xff\xfe", -1) if type(v) is not type(value)])
        set_attr(node, a.name, new)
        detail = f"{node.op_type}.{a.name}: {value!r} -> {new!r}"
    return model_plan(ctx, m, detail)


BAD_ATTRIBUTES: dict[str, dict[str, Sequence[object]]] = {
    "Conv": {"kernel_shape": ([-3, -3], [0, 0], [3], [100, 100]), "strides": ([0, 0], [-1, -1], [1]),
             "pads": ([1, 1], [-1, -1, -1, -1], [0, 0, 0, 0, 0, 0], [1, 0, 0, 0], [9, 9, 9, 9]),
             "dilations": ([0, 0], [2, 2], [-1, 1]), "group": (0, 2, -1, 1_000_000_000),
             "auto_pad": ("SAME_UPPER", "VALID", "BOGUS")},
    "MaxPool": {"kernel_shape": ([0, 0], [-2, -2], [99, 99], [2]), "strides": ([0, 0], [-1, -1], [3, 3]),
                "pads": ([1, 1, 1, 1], [-1, 0, 0, 0]), "ceil_mode": (1, 2), "storage_order": (1,)},
    "Flatten": {"axis": (7, -7, 0, 2)},
    "Gather": {"axis": (5, -9)},
    "Concat": {"axis": (9, -9)},
    "Transpose": {"perm": ([0, 0], [1], [5, 0], [0, 1, 2])},
    "BatchNormalization": {"epsilon": (-1.0, 0.0, float("nan"), float("inf")), "momentum": (float("nan"),),
                           "training_mode": (1,)},
    "TopK": {"axis": (5, 0), "largest": (0, 2), "sorted": (0,)},
    "Quant": {"narrow": (-1, 2), "signed": (2, -1), "rounding_mode": ("FLOOR", "CEIL", "BOGUS", "")},
    "MultiThreshold": {"out_dtype": ("INT99", "", "BIPOLAR", "FLOAT32"), "out_scale": (float("nan"), 0.0, -1.0),
                       "out_bias": (1e30, float("inf")), "data_layout": ("NHWC", "XYZ")},
    "Unsqueeze": {"axes": ([9], [-9], [1, 1])},
    "Squeeze": {"axes": ([9], [0], [1, 1])},
    "Reshape": {"allowzero": (2, -1)},
    "Cast": {"to": (0, 999, TensorProto.STRING)},
}


def mutate_attribute_value(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    nodes = list(m.graph.node)
    if not nodes:
        return None
    node = ctx.pick(nodes)
    table = BAD_ATTRIBUTES.get("Quant" if node.op_type == "IntQuant" else node.op_type)
    if table:
        name = ctx.pick(sorted(table))
        value = ctx.pick(list(table[name]))
    elif node.attribute:
        a = ctx.pick(list(node.attribute))
        name = a.name
        current = helper.get_attribute_value(a)
        if isinstance(current, int):
            value = ctx.pick([-1, 0, 2**31, -(2**63)])
        elif isinstance(current, float):
            value = ctx.pick([float("nan"), float("inf"), -1.0])
        elif isinstance(current, list):
            value = [-1] * max(1, len(current))
        else:
            value = "\x1bBOGUS"
    else:  # an attribute the op does not have
        name, value = ctx.pick([("axis", 3), ("fz_unknown", 1), ("alpha", float("nan"))])
    set_attr(node, name, value)
    return model_plan(ctx, m, f"{node.op_type} {node.name!r}: {name}={value!r}")


def _float_initializers_by_role(m: onnx.ModelProto) -> dict[str, list[str]]:
    """Float initializers grouped by what reads them: weights, BN statistics, scales, thresholds, Clip bounds."""
    g = m.graph
    floats = {t.name for t in g.initializer if t.data_type == FLOAT}
    roles: dict[str, list[str]] = {}
    for n in g.node:
        for s, t in enumerate(n.input):
            if t not in floats:
                continue
            if n.op_type in ("MatMul", "Conv", "Gemm", "AdderMatMul", "AdderConv") and s == 1:
                role = "weights"
            elif n.op_type == "BatchNormalization":
                role = "batchnorm"
            elif n.op_type in ("Quant", "IntQuant", "BipolarQuant") and s >= 1:
                role = "quantizer"
            elif n.op_type == "MultiThreshold" and s == 1:
                role = "thresholds"
            elif n.op_type == "Clip":
                role = "clip"
            elif n.op_type in ("Div", "Mul"):
                role = "scale"
            else:
                role = "other"
            roles.setdefault(role, []).append(t)
    return roles


def mutate_nonfinite(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    roles = _float_initializers_by_role(m)
    if not roles:
        return None
    role = ctx.pick(sorted(roles))
    name = ctx.pick(roles[role])
    arr = numpy_helper.to_array(initializer(m.graph, name)).astype(np.float32).copy()
    if arr.size == 0:
        return None
    bad = ctx.pick([np.nan, np.inf, -np.inf])
    every = ctx.p(0.2)
    if every:
        arr[...] = bad
    else:
        arr.reshape(-1)[int(ctx.rng.integers(arr.size))] = bad
    replace_initializer(m.graph, name, arr)
    return model_plan(ctx, m, f"{'every element' if every else 'one element'} of {role} {name!r} = {bad}")


def mutate_bit_width(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    quants = [n for n in quant_nodes(g) if len(n.input) >= 4 and initializer(g, n.input[3]) is not None]
    if quants:
        node = ctx.pick(quants)
        bits = float(numpy_helper.to_array(initializer(g, node.input[3])).reshape(-1)[0])
        value = ctx.pick([[bits, bits], [[bits]], 0.0, -1.0, 1.5, 9.0, 33.0, 64.0, float("nan"), []])
        replace_initializer(g, node.input[3], np.asarray(value, np.float32))
        return model_plan(ctx, m, f"Quant {node.name!r} bit width -> {value!r}")
    clips = [n for n in g.node if n.op_type == "Clip" and len(n.input) >= 3 and initializer(g, n.input[2]) is not None
             and initializer(g, n.input[1]) is not None]
    if not clips:
        return None
    node = ctx.pick(clips)  # the dialect's analogue of a bit width: the code range of Clip(Round(x / s))
    lo = float(numpy_helper.to_array(initializer(g, node.input[1])).reshape(-1)[0])
    hi = float(numpy_helper.to_array(initializer(g, node.input[2])).reshape(-1)[0])
    new_lo, new_hi = ctx.pick([([lo, lo], [hi, hi]), (hi, lo), (lo + 0.5, hi), (lo, hi + 0.5), (lo, 2.0**40),
                               (-(2.0**40), hi), (lo, lo), ([lo], [hi])])
    replace_initializer(g, node.input[1], np.asarray(new_lo, np.float32))
    replace_initializer(g, node.input[2], np.asarray(new_hi, np.float32))
    return model_plan(ctx, m, f"Clip {node.name!r} bounds -> {new_lo!r}, {new_hi!r}")


def mutate_scale(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph

    def float_const(n: onnx.NodeProto, s: int) -> bool:
        t = initializer(g, n.input[s]) if len(n.input) > s else None
        return t is not None and t.data_type == FLOAT

    ops = ("Quant", "IntQuant", "BipolarQuant", "Div", "Mul")
    cands = [n for n in g.node if n.op_type in ops and float_const(n, 1)]
    if not cands:
        return None
    node = ctx.pick(cands)
    name = node.input[1]
    arr = numpy_helper.to_array(initializer(g, name)).astype(np.float32)
    what = ctx.pick(["zero", "zero", "negative", "negative", "denormal", "huge", "minus zero", "wrong length",
                     "one channel negated"])
    new = {"zero": lambda: np.zeros_like(arr), "negative": lambda: -np.abs(arr) - 0.5 * (arr == 0),
           "denormal": lambda: np.full_like(arr, 1e-45), "huge": lambda: np.full_like(arr, 3e38),
           "minus zero": lambda: np.full_like(arr, -0.0),
           "wrong length": lambda: np.full(7, arr.reshape(-1)[0] if arr.size else 1, np.float32),
           "one channel negated": lambda: np.where(np.arange(arr.size).reshape(arr.shape) == 0, -arr, arr)}[what]()
    replace_initializer(g, name, np.asarray(new, np.float32))
    return model_plan(ctx, m, f"scale {name!r} of {node.op_type} {node.name!r}: {what}")


def mutate_zero_point(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    quants = [n for n in quant_nodes(g) if len(n.input) >= 3 and initializer(g, n.input[2]) is not None]
    if not quants:
        return None
    node = ctx.pick(quants)
    value = ctx.pick([0.5, -0.5, 1e10, [0.0, 0.0], float("nan"), 3.0, -1.0, 0.25])
    replace_initializer(g, node.input[2], np.asarray(value, np.float32))
    return model_plan(ctx, m, f"Quant {node.name!r} zero point -> {value!r}")


def mutate_dims(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    r = ctx.rng.random()
    if r < 0.35 and g.initializer:
        t = ctx.pick([t for t in g.initializer if t.dims] or list(g.initializer))
        dims = list(t.dims) or [1]
        dims[int(ctx.rng.integers(len(dims)))] = ctx.pick([2**40, -1, 0, 2**62, 3])
        del t.dims[:]
        t.dims.extend(dims)
        return model_plan(ctx, m, f"initializer {t.name!r} dims -> {dims} (data unchanged)")
    if r < 0.7 and g.input:
        vi = g.input[0]
        shape = vi.type.tensor_type.shape
        variant = ctx.pick(["huge", "negative", "zero", "symbolic", "no shape", "extra dim", "dropped dim"])
        n_dims = len(shape.dim)
        if variant == "no shape":
            vi.type.tensor_type.ClearField("shape")
        elif variant == "extra dim":
            shape.dim.add().dim_value = 3
        elif variant == "dropped dim" and n_dims > 1:
            del shape.dim[n_dims - 1]
        elif n_dims:
            d = shape.dim[int(ctx.rng.integers(n_dims))]
            if variant == "symbolic":
                d.dim_param = "fz_sym"
            else:
                d.dim_value = {"huge": 2**40, "negative": -5}.get(variant, 0)
        return model_plan(ctx, m, f"graph input {vi.name!r} shape: {variant}")
    reshapes = [n for n in g.node if n.op_type == "Reshape" and initializer(g, n.input[1]) is not None]
    if reshapes:
        node = ctx.pick(reshapes)
        value = ctx.pick([[1, 2**40], [-1, -1], [0], [2**62, 2**62], [-2, 64], []])
        replace_initializer(g, node.input[1], np.asarray(value, np.int64))
        return model_plan(ctx, m, f"Reshape {node.name!r} target -> {value!r}")
    if g.value_info:
        vi = ctx.pick(list(g.value_info))
        for d in vi.type.tensor_type.shape.dim:
            d.dim_value = 2**40
        return model_plan(ctx, m, f"value_info {vi.name!r} dims -> 2**40")
    return None


def mutate_empty(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    variant = ctx.pick(["no nodes", "identity model", "no outputs", "no inputs", "empty file", "no graph"])
    if variant == "empty file":
        return Plan("empty model file (0 bytes)", model=b"", commands=[primary_command(ctx)])
    if variant == "no graph":
        m.ClearField("graph")
    elif variant == "no nodes":
        g.ClearField("node")
    elif variant == "identity model":  # valid ONNX: the output is the input
        data = _copy(g.input[0], onnx.ValueInfoProto)
        out = _copy(g.input[0], onnx.ValueInfoProto)
        out.name = "fz_out"
        for field in ("node", "initializer", "input", "output", "value_info"):
            g.ClearField(field)
        g.input.append(data)
        g.output.append(out)
        g.node.append(helper.make_node("Identity", [data.name], [out.name], name="fz_id"))
    elif variant == "no outputs":
        g.ClearField("output")
    else:
        g.ClearField("input")
    return model_plan(ctx, m, f"empty graph: {variant}")


def mutate_cycle(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    if not g.node:
        return None
    j = int(ctx.rng.integers(len(g.node)))
    k = int(ctx.rng.integers(j, len(g.node)))
    node = g.node[j]
    slots = [s for s, t in enumerate(node.input) if t]
    if not slots:
        return None
    s = ctx.pick(slots)
    # a cycle when node k depends on node j; else only the file order is broken (k reads constants alone)
    upstream, frontier = set(), set(g.node[k].input)
    prod = producers(g)
    while frontier:
        t = frontier.pop()
        if t in prod and t not in upstream:
            upstream.add(t)
            frontier.update(g.node[prod[t]].input)
    cycle = k == j or any(o in upstream for o in node.output)
    node.input[s] = g.node[k].output[0]
    kind = "itself" if k == j else f"the later {g.node[k].op_type} {g.node[k].name!r}"
    shape = "a cycle" if cycle else "no cycle: the file is no longer in topological order"
    return model_plan(ctx, m, f"input {s} of {node.op_type} {node.name!r} reads the output of {kind} ({shape})")


CAST_TYPES = {"BOOL": TensorProto.BOOL, "UINT8": TensorProto.UINT8, "FLOAT16": TensorProto.FLOAT16,
              "INT8": TensorProto.INT8, "INT32": TensorProto.INT32, "DOUBLE": TensorProto.DOUBLE,
              "INT64": TensorProto.INT64, "BFLOAT16": TensorProto.BFLOAT16}


def mutate_cast(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    on_constants = ctx.p(0.3)
    edges = float_edges(g, ctx.base.elem_types, activations_only=not on_constants)
    if not edges:
        return None
    j, s = ctx.pick(edges)
    to = ctx.pick(sorted(CAST_TYPES))
    back = ctx.p(0.7)

    def make(a: str, b: str) -> list[onnx.NodeProto]:
        if not back:
            return [helper.make_node("Cast", [a], [b], name="fz_cast", to=CAST_TYPES[to])]
        mid = fresh_name(g, "fz_cast_mid")
        return [helper.make_node("Cast", [a], [mid], name="fz_cast", to=CAST_TYPES[to]),
                helper.make_node("Cast", [mid], [b], name="fz_cast_back", to=FLOAT)]

    detail = (f"Cast to {to}{' and back to FLOAT' if back else ''} on input {s} of {g.node[j].op_type} "
              f"{g.node[j].name!r} ({g.node[j].input[s]!r})")
    insert_on_edge(g, j, s, make)
    return model_plan(ctx, m, detail)


def mutate_opset(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    variant = ctx.pick(["opset 1", "opset 7", "opset 99", "no default opset", "ir_version 0", "ir_version 3",
                        "ir_version 99", "custom domain version 99", "duplicate opset import"])
    if variant.startswith("opset "):
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = int(variant.split()[1])
    elif variant == "no default opset":
        keep = [_copy(o, onnx.OperatorSetIdProto) for o in m.opset_import if o.domain not in ("", "ai.onnx")]
        m.ClearField("opset_import")
        m.opset_import.extend(keep)
    elif variant.startswith("ir_version"):
        m.ir_version = int(variant.split()[1])
    elif variant == "custom domain version 99":
        customs = [o for o in m.opset_import if o.domain not in ("", "ai.onnx")]
        if not customs:
            return None
        for o in customs:
            o.version = 99
    else:
        o = m.opset_import.add()
        o.domain, o.version = "", 5
    return model_plan(ctx, m, variant)


def mutate_dtype(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    if not g.initializer:
        return None
    t = ctx.pick(list(g.initializer))
    if ctx.p(0.7):
        new = ctx.pick([TensorProto.DOUBLE, TensorProto.INT64, TensorProto.UNDEFINED, 999, TensorProto.STRING,
                        TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.COMPLEX64])
        old = t.data_type
        t.data_type = new
        return model_plan(ctx, m, f"initializer {t.name!r} data_type {old} -> {new} (payload unchanged)")
    # external data: the tensor's bytes live in a file the model names
    arr = numpy_helper.to_array(t)
    for field in ("raw_data", "float_data", "int64_data", "int32_data", "double_data"):
        t.ClearField(field)
    t.data_location = TensorProto.EXTERNAL
    location = ctx.pick(["missing.bin", "../../../../../../etc/hostname", "/etc/hostname", "model.onnx",
                         "weights.bin", "sub/../weights.bin", "/dev/zero"])
    for key, value in (("location", location), ("offset", "0"), ("length", str(arr.nbytes))):
        e = t.external_data.add()
        e.key, e.value = key, value
    plan = model_plan(ctx, m, f"initializer {t.name!r} as external data at {location!r}")
    if plan is not None and location.endswith("weights.bin"):
        plan.files["work/weights.bin"] = arr.tobytes()[: max(0, arr.nbytes - 4)]  # 4 bytes short
        if location.startswith("sub/"):
            plan.dirs.append("work/sub")
    return plan


def mutate_outputs(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    outputs = {x.name for x in g.output}
    inner = [o for n in list(g.node)[:-1] for o in n.output if o and o not in outputs]
    variant = ctx.pick(["intermediate first", "intermediate appended", "renamed to a missing tensor",
                        "listed twice", "the graph input", "no element type"])
    if variant in ("intermediate first", "intermediate appended") and inner:
        name = ctx.pick(inner)
        vi = helper.make_tensor_value_info(name, ctx.base.elem_types.get(name, FLOAT), None)
        outs = [vi, *g.output] if variant == "intermediate first" else [*g.output, vi]
        outs = [_copy(o, onnx.ValueInfoProto) for o in outs]
        g.ClearField("output")
        g.output.extend(outs)
        detail = f"graph output: {name!r} {variant.split()[1]}"
    elif variant == "renamed to a missing tensor":
        g.output[0].name = "fz_missing_output"
        detail = "graph output names a tensor nobody writes"
    elif variant == "listed twice":
        g.output.append(_copy(g.output[0], onnx.ValueInfoProto))
        detail = "graph output listed twice"
    elif variant == "the graph input" and data_inputs(g):
        g.output[0].name = data_inputs(g)[0]
        detail = "graph output is the graph input"
    else:
        g.output[0].type.tensor_type.elem_type = TensorProto.UNDEFINED
        detail = "graph output has no element type"
    return model_plan(ctx, m, detail)


def mutate_inputs(ctx: Ctx) -> Plan | None:
    m = ctx.base.copy()
    g = m.graph
    variant = ctx.pick(["elem type INT8", "elem type DOUBLE", "elem type STRING", "elem type UINT8",
                        "an unused second input", "an initializer turned into an input", "no data input",
                        "inputs reversed"])
    if variant.startswith("elem type"):
        g.input[0].type.tensor_type.elem_type = getattr(TensorProto, variant.split()[-1])
    elif variant == "an unused second input":
        g.input.append(helper.make_tensor_value_info("fz_extra", FLOAT, [1]))
    elif variant == "an initializer turned into an input":  # nobody feeds it
        roles = _float_initializers_by_role(m)
        if not roles:
            return None
        name = ctx.pick(roles[ctx.pick(sorted(roles))])
        t = initializer(g, name)
        if name not in {i.name for i in g.input}:
            g.input.append(helper.make_tensor_value_info(name, FLOAT, list(t.dims)))
        keep = [_copy(x, onnx.TensorProto) for x in g.initializer if x.name != name]
        g.ClearField("initializer")
        g.initializer.extend(keep)
        variant = f"initializer {name!r} turned into an unfed graph input"
    elif variant == "no data input":
        keep = [_copy(i, onnx.ValueInfoProto) for i in g.input if i.name not in data_inputs(g)]
        g.ClearField("input")
        g.input.extend(keep)
    else:
        if len(g.input) < 2:
            g.input.append(helper.make_tensor_value_info("fz_extra", FLOAT, [1]))
        inputs = [_copy(i, onnx.ValueInfoProto) for i in reversed(g.input)]
        g.ClearField("input")
        g.input.extend(inputs)
    return model_plan(ctx, m, f"graph inputs: {variant}")


def mutate_thresholds(ctx: Ctx) -> Plan | None:
    """MultiThreshold tables that are still well defined (a count of x >= T) but unusual, or malformed."""
    m = ctx.base.copy()
    g = m.graph
    mts = [n for n in g.node if n.op_type == "MultiThreshold" and initializer(g, n.input[1]) is not None]
    if not mts:
        return None
    node = ctx.pick(mts)
    arr = numpy_helper.to_array(initializer(g, node.input[1])).astype(np.float32).copy()
    variant = ctx.pick(["unsorted rows", "duplicate thresholds", "one row", "extra column", "transposed", "3-d",
                        "all equal"])
    if variant == "unsorted rows" and arr.shape[-1] > 1:
        arr = arr[..., ::-1].copy()
    elif variant == "duplicate thresholds":
        arr[..., -1] = arr[..., 0]
    elif variant == "one row":
        arr = arr[:1]
    elif variant == "extra column":
        arr = np.concatenate([arr, arr[..., -1:] + 1], axis=-1)
    elif variant == "transposed":
        arr = arr.T.copy()
    elif variant == "3-d":
        arr = arr[None]
    else:
        arr[...] = 0.0
    replace_initializer(g, node.input[1], arr)
    return model_plan(ctx, m, f"MultiThreshold {node.name!r} thresholds: {variant} -> shape {list(arr.shape)}")


# -- bytes -------------------------------------------------------------------------------------------------


def mutate_truncate(ctx: Ctx) -> Plan | None:
    data = ctx.base.model_bytes
    cut = int(ctx.rng.integers(len(data))) if ctx.p(0.7) else len(data) - int(ctx.rng.integers(1, 64))
    return Plan(f"file truncated to {cut} of {len(data)} bytes", model=data[:cut], commands=[primary_command(ctx)])


def mutate_byteflip(ctx: Ctx) -> Plan | None:
    data = bytearray(ctx.base.model_bytes)
    k = int(ctx.pick([1, 1, 2, 4, 8, 32]))
    where = sorted(int(i) for i in ctx.rng.integers(len(data), size=k))
    for i in where:
        data[i] ^= int(ctx.rng.integers(1, 256))
    return Plan(f"{k} byte(s) flipped at {where[:8]}", model=bytes(data), commands=[primary_command(ctx)])


def mutate_not_onnx(ctx: Ctx) -> Plan | None:
    variant = ctx.pick(["text", "npy", "random bytes", "zip", "directory", "dev-null", "symlink loop", "utf-16 text"])
    plan = Plan(f"model file: {variant}", commands=[primary_command(ctx)])
    if variant == "text":
        plan.model = b"ir_version: 8\ngraph { node { op_type: 'Relu' } }\n"
    elif variant == "npy":
        plan.model = _npy(ctx.base.inputs)
    elif variant == "random bytes":
        plan.model = ctx.rng.bytes(int(ctx.rng.integers(1, 4096)))
    elif variant == "zip":
        plan.model = b"PK\x03\x04" + ctx.rng.bytes(200)
    elif variant == "directory":
        plan.dirs.append("work/model.onnx")
    elif variant == "dev-null":
        plan.symlinks["work/model.onnx"] = "/dev/null"
    elif variant == "symlink loop":
        plan.symlinks["work/model.onnx"] = "model.onnx"
    else:
        plan.model = "not a model \u2603".encode("utf-16")
    return plan


# -- inputs for run / --csim / --sim -----------------------------------------------------------------------


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


INPUT_VARIANTS = ("nan one", "nan all", "inf", "-inf", "wrong features", "extra axis", "missing batch axis", "scalar",
                  "transposed", "complex64", "complex128", "object", "unicode", "bytes", "empty batch", "text file",
                  "truncated npy", "npz", "directory", "missing file", "float64", "int32", "bool", "float16",
                  "big-endian", "fortran order", "huge finite", "subnormal", "minus zero", "one image", "structured",
                  "datetime", "max float64")


def mutate_input(ctx: Ctx) -> Plan | None:
    x = ctx.base.inputs.copy()
    variant = ctx.pick(INPUT_VARIANTS)
    data: bytes | None = None
    plan = Plan(f"input: {variant}", model=ctx.base.model_bytes)
    if variant == "nan one":
        x.reshape(-1)[int(ctx.rng.integers(x.size))] = np.nan
    elif variant == "nan all":
        x[...] = np.nan
    elif variant in ("inf", "-inf"):
        x.reshape(-1)[int(ctx.rng.integers(x.size))] = np.inf if variant == "inf" else -np.inf
    elif variant == "wrong features":
        x = np.concatenate([x, x[:, :1]], axis=1)
    elif variant == "extra axis":
        x = x[:, None]
    elif variant == "missing batch axis":
        x = x[0]
    elif variant == "scalar":
        x = np.asarray(np.float32(0.5))
    elif variant == "transposed":
        x = x.T.copy()
    elif variant in ("complex64", "complex128"):
        x = x.astype(variant) + 1j
    elif variant == "object":
        data = _npy(np.array([x[0], "a"], dtype=object), allow_pickle=True)
    elif variant == "unicode":
        x = np.full(x.shape, "1.0")
    elif variant == "bytes":
        x = np.full(x.shape, b"1.0")
    elif variant == "empty batch":
        x = x[:0]
    elif variant == "text file":
        data = b"0.1 0.2 0.3\n"
    elif variant == "truncated npy":
        whole = _npy(x)
        data = whole[: int(ctx.rng.integers(1, len(whole)))]
    elif variant == "npz":
        buf = io.BytesIO()
        np.savez(buf, x=x)
        data = buf.getvalue()
    elif variant == "directory":
        plan.dirs.append("work/input.npy")
    elif variant == "missing file":
        plan.input_rel = "no-such-input.npy"
        plan.input_missing = True
    elif variant in ("float64", "int32", "bool", "float16"):
        x = x.astype(variant)
    elif variant == "big-endian":
        x = x.astype(">f4")
    elif variant == "fortran order":
        x = np.asfortranarray(x)
    elif variant == "huge finite":
        x = x * np.float32(1e30)
    elif variant == "subnormal":
        x = x * np.float32(1e-40)
    elif variant == "minus zero":
        x = np.full_like(x, -0.0)
    elif variant == "one image":
        x = x[:1]
    elif variant == "structured":
        x = np.zeros(x.shape[0], dtype=[("a", "<f4"), ("b", "<i4")])
    elif variant == "datetime":
        x = np.zeros(x.shape, dtype="datetime64[s]")
    elif variant == "max float64":
        x = x.astype(np.float64) * 1e300
    if variant not in ("directory", "missing file"):
        plan.input = data if data is not None else _npy(np.asarray(x))
    r = ctx.rng.random()
    inp = plan.input_rel
    if r < 0.65:
        plan.commands = [cmd_run("model.onnx", inp)]
    elif r < 0.85 and "fpga" in ctx.base.targets:
        plan.commands = [cmd_fpga("model.onnx", "out", csim_input=inp)]
    elif "rram" in ctx.base.targets:
        plan.commands = [cmd_rram("model.onnx", "out", sim_input=inp)]
    else:
        plan.commands = [cmd_run("model.onnx", inp)]
    return plan


# -- hostile paths -----------------------------------------------------------------------------------------

HOSTILE_FILE_NAMES = ("my model.onnx", "ünïcødé 模型.onnx", "line\nbreak.onnx", "tab\there.onnx", "$HOME.onnx",
                      "`touch pwned`.onnx", "'quote\".onnx", "%s%n.onnx", "*/ comment.onnx", "{{ jinja }}.onnx",
                      "back\\slash.onnx", "\x1b[31mred.onnx", "-dash.onnx", ".hidden.onnx", "no-suffix",
                      "semi;colon.onnx", "a" * 240 + ".onnx", "#include <x>.onnx", "\u202eright-to-left.onnx")
HOSTILE_DIR_NAMES = ("dir with spaces", "ünï", "line\nbreak", "..dots", "$(id)", "a" * 200, "x/../y", "deep/er/still")


def mutate_model_path(ctx: Ctx) -> Plan | None:
    folder = ctx.pick(["", "", *HOSTILE_DIR_NAMES])
    name = ctx.pick(HOSTILE_FILE_NAMES)
    if name.startswith("-") and not folder:
        rel = "./" + name  # a leading dash reads as an option: a user writes ./-dash.onnx
    else:
        rel = os.path.join(folder, name) if folder else name  # "x/../y/..." stays as written
    plan = Plan(f"model at {rel!r}", model=ctx.base.model_bytes, model_rel=rel)
    if folder.startswith("x/"):
        plan.dirs.append("work/x")
    r = ctx.rng.random()
    if r < 0.25:
        plan.commands = [cmd_inspect(rel)]
    elif r < 0.5:
        plan.commands = [cmd_run(rel)]
    elif r < 0.85 and "fpga" in ctx.base.targets:
        csim = ctx.p(0.15)  # the model path goes into the generated sources: compile them now and then
        plan.commands = [cmd_fpga(rel, "out", csim_input="input.npy" if csim else None)]
    else:
        plan.commands = [cmd_rram(rel, "out")]
    return plan


HOSTILE_OUT_NAMES = ("out dir", "ünï/out", "line\nbreak", "x/../out", "a" * 250, "a" * 300, "new/a/b/c/out",
                     "model.onnx/out", "", "out/", "./out", "~", "$HOME", "out\x1b[2J", "*/out", "'; rm -rf x; '",
                     "out\\dir", "{{ out }}", ".bnncc-looks-temporary", "-")
RUN_OUTPUTS = ("preds dir/y.npy", "missing/dir/y.npy", ".", "ünï.npy", "y", "line\nbreak.npy", "input.npy/y.npy")


def mutate_out_path(ctx: Ctx) -> Plan | None:
    out = ctx.pick(HOSTILE_OUT_NAMES)
    plan = Plan(f"-o {out!r}", model=ctx.base.model_bytes)
    plan.dirs += ["work/x", "work/preds dir"]
    broken = ctx.p(0.25)  # a refused model: nothing may be created on the way
    if broken:
        plan.model = plan.model[: len(plan.model) // 2]
    if ctx.p(0.2):
        output = ctx.pick(RUN_OUTPUTS)
        plan.commands = [cmd_run("model.onnx", "input.npy", output=output)]
        plan.detail = f"run --output {output!r}"
    else:
        target = ctx.pick([t for t in ("fpga", "rram") if t in ctx.base.targets] or ["fpga"])
        plan.commands = [cmd_fpga("model.onnx", out) if target == "fpga" else cmd_rram("model.onnx", out)]
    plan.detail += " with a truncated model" if broken else ""
    return plan


FPGA_OPTIONS: dict[str, Sequence[str]] = {
    "--fps": ("0", "-1", "nan", "inf", "-inf", "1e30", "1e-30", "abc", "1e400", "49999", "0x10"),
    "--clock-ns": ("0", "-5", "nan", "inf", "1e-9", "1e9", "", "1e400"),
    "--part": ("", "xc7z020", "bogus\npart", "../../etc/passwd", "xc7z020clg400-1\x1b[2J", "LFE5U-25F-6BG381C",
               "xcu250-figd2104-2L-e"),
    "--ap-ctrl": ("hs",),
}
RRAM_OPTIONS: dict[str, Sequence[str]] = {
    "--xbar": ("0x0", "1x1", "-1x5", "99999999x99999999", "axb", "128", "128x", "2x2", "64x64", "128X128", " 8x8 "),
    "--cell-bits": ("0", "-1", "2", "4", "64", "1.5", "nan"),
    "--adc-bits": ("0", "-1", "1", "99", "3", "nan"),
    "--g-on": ("0", "-1", "nan", "inf", "1e-30", "1e-7"),
    "--g-off": ("0", "-1", "nan", "1", "1e-3"),
    "--encoding": ("reference",),
}


def mutate_options(ctx: Ctx) -> Plan | None:
    """Compile options at and beyond their edges, one to three at a time, sometimes with --json."""
    target = ctx.pick([t for t in ("fpga", "rram") if t in ctx.base.targets] or ["fpga"])
    table = FPGA_OPTIONS if target == "fpga" else RRAM_OPTIONS
    chosen = [sorted(table)[int(i)] for i in ctx.rng.choice(len(table), int(ctx.rng.integers(1, 4)), replace=False)]
    extra = []
    for option in chosen:
        extra += [option, ctx.pick(list(table[option]))]
    if ctx.p(0.4):
        extra.append("--json")
    cmd = cmd_fpga("model.onnx", "out") if target == "fpga" else cmd_rram("model.onnx", "out")
    cmd.argv += extra
    return Plan(f"{target} {' '.join(map(repr, extra))}", model=ctx.base.model_bytes, commands=[cmd])


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def mutate_folding(ctx: Ctx) -> Plan | None:
    """--folding files: ours (from the base's own output) or FINN's, edited, truncated or not JSON at all."""
    base = ctx.base
    if "fpga" not in base.targets or "fpga" not in base.outputs:
        return None
    ours = json.loads((base.outputs["fpga"] / "folding.json").read_text())
    finn = json.loads((FINN_TFC / "folding_config.json").read_text())
    data = ours if ctx.p(0.6) else finn
    blocks = data["blocks"] if data is ours else data
    names = [k for k in blocks if isinstance(blocks[k], dict) and k != "Defaults"]
    variant = ctx.pick(["PE 0", "PE -1", "PE 3", "PE huge", "SIMD string", "SIMD float", "unknown block",
                        "unknown key", "ram_style odd", "truncated", "empty", "null", "list", "deep nesting",
                        "not utf-8", "directory", "missing", "as is", "all PE/SIMD max", "format version 99"])
    content: bytes | None = None
    name = ctx.pick(names) if names else None
    if name is not None and variant.startswith(("PE", "SIMD", "ram_style", "unknown key")):
        entry = blocks[name]
        if variant == "unknown key":
            entry["WEIGHTS_PER_PE"] = 4
        elif variant == "ram_style odd":
            entry["ram_style"] = ctx.pick(["ultra", "", 7, None])
        else:
            key, value = variant.split(" ", 1)
            entry[key] = {"0": 0, "-1": -1, "3": 3, "huge": 2**62, "string": "two", "float": 2.5}[value]
    elif variant == "unknown block":
        blocks["fz_no_such_block"] = {"PE": 2}
    elif variant == "all PE/SIMD max":
        for entry in blocks.values():
            if isinstance(entry, dict):
                entry.update({"PE": 4096, "SIMD": 4096})
    elif variant == "format version 99" and data is ours:
        data["version"] = 99
    raw = json.dumps(data).encode()
    content = {"truncated": raw[: len(raw) // 2], "empty": b"", "null": b"null", "list": b"[1, 2]",
               "deep nesting": _nested(200_000), "not utf-8": b"\xff\xfe{"}.get(variant, raw)
    plan = Plan(f"--folding ({'ours' if data is ours else 'FINN'}): {variant}", model=base.model_bytes)
    if variant == "directory":
        plan.dirs.append("work/fold.json")
    elif variant != "missing":
        plan.files["work/fold.json"] = content
    cmd = cmd_fpga("model.onnx", "out", "input.npy" if ctx.p(0.1) else None)
    cmd.argv += ["--folding", "fold.json"] + (["--strict-folding"] if ctx.p(0.3) else [])
    plan.commands = [cmd]
    return plan


SENTINEL = b"user data \x00\xff - must survive byte for byte\n"
OUT_FOLDER_VARIANTS = ("cwd", "parent", "home", "home absolute", "user folder", "empty user folder", "previous output",
                       "previous output + user file", "previous output + nested user file",
                       "previous output, corrupt marker", "previous output, marker lists ../", "existing file",
                       "symlink to user folder", "symlink to previous output", "model's folder",
                       "under the model file", "empty -o", "via ../work", "rram subfolder is the user's")


def mutate_out_folder(ctx: Ctx) -> Plan | None:
    """-o at places where a user's files live; each holds a sentinel that must survive."""
    base = ctx.base
    targets = [t for t in ("fpga", "rram") if t in base.targets]
    if not targets:
        return None
    target = ctx.pick(targets)
    variant = ctx.pick(OUT_FOLDER_VARIANTS)
    prior = base.outputs.get(target)
    if (variant.startswith("previous output") or variant == "symlink to previous output") and prior is None:
        return None
    plan = Plan(f"-o {variant} ({target})", model=base.model_bytes)
    out = {"cwd": ".", "parent": "..", "home": "../home", "home absolute": "{SANDBOX}/home", "model's folder": "models",
           "under the model file": "model.onnx/out", "empty -o": "", "via ../work": "../work"}.get(variant, "out")
    where = "work/out" if target == "fpga" else "work/out/rram"
    if variant == "user folder":
        plan.files["work/out/notes.txt"] = SENTINEL
        plan.files["work/out/report.json"] = b"{}"
    elif variant == "empty user folder":
        plan.dirs.append("work/out")
    elif variant.startswith("previous output"):
        plan.copies[where] = prior
        if variant == "previous output + user file":
            plan.files[f"{where}/mine.txt"] = SENTINEL
        elif variant == "previous output + nested user file":
            plan.files[f"{where}/{'hls' if target == 'fpga' else 'tiles'}/mine.txt"] = SENTINEL
        elif variant == "previous output, corrupt marker":
            plan.edits.append(lambda root: (root / where / ".bnncc-output.json").write_text("{nope"))
        elif variant == "previous output, marker lists ../":
            plan.edits.append(lambda root: _marker_lists_outside(root / where))
    elif variant == "existing file":
        plan.files["work/out"] = SENTINEL
    elif variant == "symlink to user folder":
        plan.files["work/mine/notes.txt"] = SENTINEL
        plan.symlinks["work/out"] = "mine"
    elif variant == "symlink to previous output":
        plan.copies["work/prev"] = prior
        plan.symlinks["work/out"] = "prev"
    elif variant == "model's folder":
        plan.model_rel = "models/model.onnx"
    elif variant == "rram subfolder is the user's":
        plan.files["work/out/rram/notes.txt"] = SENTINEL
    plan.commands = [cmd_fpga(plan.model_rel, out) if target == "fpga" else cmd_rram(plan.model_rel, out)]
    if ctx.p(0.2):
        plan.model = plan.model[: len(plan.model) // 3]
        plan.detail += " with a truncated model"
    return plan


def _marker_lists_outside(folder: Path) -> None:
    marker = folder / ".bnncc-output.json"
    data = json.loads(marker.read_text())
    data["files"] += ["../keep-parent.txt", "../../work/notes.txt"]
    marker.write_text(json.dumps(data))


# -- the classes -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MutationClass:
    name: str
    build: Callable[[Ctx], Plan | None]
    preserving: bool = False


CLASSES: tuple[MutationClass, ...] = (
    *(MutationClass(f"preserving:{n}", f, True) for n, f in PRESERVING_SINGLE.items()),
    MutationClass("preserving:mix", mutate_preserving_mix, True),
    MutationClass("bytes:truncate", mutate_truncate),
    MutationClass("bytes:flip", mutate_byteflip),
    MutationClass("bytes:not-onnx", mutate_not_onnx),
    MutationClass("graph:delete-node", mutate_delete_node),
    MutationClass("graph:duplicate-node", mutate_duplicate_node),
    MutationClass("graph:swap-inputs", mutate_swap_inputs),
    MutationClass("graph:retarget-input", mutate_retarget_input),
    MutationClass("graph:double-write", mutate_double_write),
    MutationClass("graph:shadow-initializer", mutate_shadow_initializer),
    MutationClass("graph:unknown-op", mutate_unknown_op),
    MutationClass("graph:escape-op", mutate_escape_op),
    MutationClass("graph:empty", mutate_empty),
    MutationClass("graph:cycle", mutate_cycle),
    MutationClass("graph:cast", mutate_cast),
    MutationClass("graph:outputs", mutate_outputs),
    MutationClass("graph:inputs", mutate_inputs),
    MutationClass("graph:opset", mutate_opset),
    MutationClass("attr:type", mutate_attribute_type),
    MutationClass("attr:value", mutate_attribute_value),
    MutationClass("tensor:nonfinite", mutate_nonfinite),
    MutationClass("tensor:bit-width", mutate_bit_width),
    MutationClass("tensor:scale", mutate_scale),
    MutationClass("tensor:zero-point", mutate_zero_point),
    MutationClass("tensor:thresholds", mutate_thresholds),
    MutationClass("tensor:dims", mutate_dims),
    MutationClass("tensor:dtype", mutate_dtype),
    MutationClass("input:bad-input", mutate_input),
    MutationClass("options:compile", mutate_options),
    MutationClass("options:folding", mutate_folding),
    MutationClass("path:model", mutate_model_path),
    MutationClass("path:out", mutate_out_path),
    MutationClass("path:out-folder", mutate_out_folder),
)
CLASS_BY_NAME = {c.name: c for c in CLASSES}
PRESERVING_CLASSES = [c for c in CLASSES if c.preserving]
OTHER_CLASSES = [c for c in CLASSES if not c.preserving]
PRESERVING_EVERY = 4  # one mutant in four is meaning-preserving (the brief asks for >= 20 %)


@dataclasses.dataclass
class Mutant:
    index: int
    cls: MutationClass
    base: Base
    plan: Plan


def make_mutant(index: int, seed: int, bases: Sequence[Base]) -> Mutant:
    """Mutant ``index`` of campaign ``seed``: the same for a seed and base list whatever the campaign size."""
    # distinct streams for the draw of class and base and for each build attempt. (NumPy's SeedSequence pads
    # with zeros: [s, i] and [s, i, 0] are the same seed, which would tie each mutant's variant to its class.)
    rng = np.random.default_rng([seed, index, 1])
    if index % PRESERVING_EVERY == 0:
        first = PRESERVING_CLASSES[(index // PRESERVING_EVERY) % len(PRESERVING_CLASSES)]
    else:
        first = choice(rng, OTHER_CLASSES)
    # not every class applies to every base (no Quant node, no MultiThreshold...): draw another base, and
    # after 30 tries another class of the same kind
    same_kind = PRESERVING_CLASSES if first.preserving else OTHER_CLASSES
    usable = [b for b in bases if b.bnncc_labels is not None] if first.preserving else list(bases)
    for attempt in range(60):
        cls = first if attempt < 30 else choice(rng, same_kind)
        base = choice(rng, usable or list(bases))
        plan = cls.build(Ctx(np.random.default_rng([seed, index, 2, attempt + 1]), base))
        if plan is not None:
            return Mutant(index, cls, base, plan)
    raise RuntimeError(f"mutant {index}: no applicable mutation found")


# ============================================================================================================
# Running a command in a child process
# ============================================================================================================


@dataclasses.dataclass
class Step:
    """One child process: a bnncc command (argv) or an oracle call (oracle), in ``cwd``."""

    name: str
    cwd: Path
    env: dict[str, str]
    argv: list[str] | None = None
    oracle: tuple[str, str, str] | None = None  # (flavor, model path, input path)
    result_file: Path | None = None


@dataclasses.dataclass
class StepResult:
    returncode: int | None  # None: killed at the limit
    signal: int | None
    stdout: bytes
    stderr: bytes
    wall_s: float
    timed_out: bool


# Python 3.11's default warning filters: a child of a test runner gets them back to behave like `bnncc`.
_DEFAULT_WARNING_FILTERS = (("default", DeprecationWarning, "__main__"), ("ignore", DeprecationWarning, ""),
                            ("ignore", PendingDeprecationWarning, ""), ("ignore", ImportWarning, ""),
                            ("ignore", ResourceWarning, ""))


def _child(step: Step, runner: str, out_fd: int, err_fd: int, time_limit_s: float) -> None:
    """In the forked child: set the sandbox and the limits up, then exec bnncc or call it. Never returns."""
    code = 70
    try:
        os.setpgid(0, 0)
        os.chdir(step.cwd)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        faulthandler.disable()  # pytest's would write to the terminal; a plain `bnncc` has none
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.alarm(int(time_limit_s) + 15)  # a safety net should the harness die: it kills at the limit itself
        if step.argv is not None and runner == "exec":
            exe = bnncc_executable()
            os.execve(exe, [exe, *step.argv], step.env)
        os.environ.clear()
        os.environ.update(step.env)
        tempfile.tempdir = None  # re-read $TMPDIR
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - lives until os._exit
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        warnings.resetwarnings()
        for action, category, module in reversed(_DEFAULT_WARNING_FILTERS):
            warnings.filterwarnings(action, category=category, module=module)
        code = _call_main(step.argv) if step.argv is not None else _oracle_child(step)
    except BaseException:  # what escapes bnncc's main(): the interpreter would print it, and so do we
        traceback.print_exc()
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # a broken stream must not keep the child alive
            pass
        os._exit(code)


def _call_main(argv: list[str]) -> int:
    from bnncc.cli import main

    try:
        code = main(argv)
    except SystemExit as e:  # argparse's usage errors
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return int(code) if isinstance(code, int) else 1


def bnncc_executable() -> str:
    script = Path(sys.executable).parent / "bnncc"
    return str(script if script.exists() else shutil.which("bnncc") or "bnncc")


class Scheduler:
    """Runs steps in child processes, at most ``jobs`` at a time, killing (the process group of) any that
    outlives the limit.

    A job is a generator: it yields a Step, gets its StepResult back, and finally returns its record.
    Single-threaded on purpose (fork from a threaded process invites deadlocks in the child): it polls.
    """

    def __init__(self, jobs: int, runner: str, time_limit_s: float = TIME_LIMIT_S) -> None:
        self.jobs = max(1, jobs)
        self.runner = runner
        self.time_limit_s = time_limit_s

    def run(self, jobs: Iterable[Generator[Step, StepResult, dict]], on_done: Callable[[dict], None]) -> None:
        pending = iter(jobs)
        active: dict[int, tuple[Generator, float, Path, Path]] = {}
        exhausted = False
        scratch = Path(tempfile.mkdtemp(prefix="bnncc-fuzz-io-"))
        try:
            while active or not exhausted:
                while not exhausted and len(active) < self.jobs:
                    job = next(pending, None)
                    if job is None:
                        exhausted = True
                    else:
                        self._advance(job, None, active, scratch, on_done)
                progressed = False
                for pid in list(active):
                    job, start, out_path, err_path = active[pid]
                    done, status = os.waitpid(pid, os.WNOHANG)
                    timed_out = False
                    if done == 0:
                        if time.monotonic() - start <= self.time_limit_s:
                            continue
                        _kill_group(pid)
                        _, status = os.waitpid(pid, 0)
                        timed_out = True
                    progressed = True
                    del active[pid]
                    _kill_group(pid)  # what a finished child left running (g++ under a csim)
                    signaled = os.WIFSIGNALED(status)
                    result = StepResult(
                        returncode=None if timed_out else os.waitstatus_to_exitcode(status),
                        signal=os.WTERMSIG(status) if signaled and not timed_out else None,
                        stdout=out_path.read_bytes(), stderr=err_path.read_bytes(),
                        wall_s=time.monotonic() - start, timed_out=timed_out)
                    out_path.unlink()
                    err_path.unlink()
                    self._advance(job, result, active, scratch, on_done)
                if not progressed:
                    time.sleep(0.002)
        finally:
            for pid in active:
                _kill_group(pid)
                os.waitpid(pid, 0)
            shutil.rmtree(scratch, ignore_errors=True)

    def _advance(self, job: Generator, result: StepResult | None, active: dict, scratch: Path,
                 on_done: Callable[[dict], None]) -> None:
        try:
            step = job.send(result) if result is not None else next(job)
        except StopIteration as stop:
            on_done(stop.value)
            return
        stem = scratch / f"step-{time.monotonic_ns()}"
        out_path, err_path = stem.with_suffix(".out"), stem.with_suffix(".err")
        out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        sys.stdout.flush()  # or the child would write our buffered output into its files
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(step, self.runner, out_fd, err_fd, self.time_limit_s)
        os.close(out_fd)
        os.close(err_fd)
        try:
            os.setpgid(pid, pid)  # the child does it too: whichever runs first
        except OSError:
            pass
        active[pid] = (job, time.monotonic(), out_path, err_path)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ============================================================================================================
# Oracles
# ============================================================================================================


def _oracle_child(step: Step) -> int:
    flavor, model_path, input_path = step.oracle
    try:
        payload = {"labels": oracle_labels(flavor, model_path, load_oracle_input(input_path))}
    except Exception as e:  # the oracle cannot load or run it: the mutant is oracle-invalid
        payload = {"invalid": f"{type(e).__name__}: {str(e)[:500]}"}
    step.result_file.write_text(json.dumps(payload))
    return 0


def load_oracle_input(path: str) -> np.ndarray:
    """The batch as the oracle takes it: real numbers of any numeric dtype, as float32."""
    x = np.load(path, allow_pickle=False)
    if x.dtype.kind not in "fiub" or x.dtype.fields is not None:
        raise TypeError(f"the oracle takes real numbers, not {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim == 0:
        raise ValueError("a 0-d input has no batch axis")
    return x


def labels_of(out: np.ndarray, n: int) -> list[int]:
    """A label output (integer dtype: FINN's TopK indices) as is, else the argmax of the first output."""
    if n == 0:
        return []
    flat = np.asarray(out).reshape(n, -1)
    if flat.dtype.kind in "iu":
        return [int(v) for v in flat[:, 0]]
    return [int(v) for v in np.argmax(flat, axis=1)]


def oracle_labels(flavor: str, model_path: str, x: np.ndarray) -> list[int]:
    return _onnxruntime_labels(model_path, x) if flavor == "dialect" else _qonnx_labels(model_path, x)


def _onnxruntime_labels(model_path: str, x: np.ndarray) -> list[int]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 4
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    first = sess.get_inputs()[0]
    if first.shape and first.shape[0] == 1 and x.shape[0] != 1:  # a fixed batch of 1: one image at a time
        outs = [np.asarray(sess.run(None, {first.name: x[i:i + 1]})[0]) for i in range(x.shape[0])]
        out = _join(outs) if outs else np.zeros((0,), np.float32)
    else:
        out = np.asarray(sess.run(None, {first.name: x})[0])
    return labels_of(out, x.shape[0])


def for_qonnx(model_path: str) -> str:
    """The model with its nodes in topological order: qonnx's execute_onnx runs them in file order (ONNX files
    must be sorted, bnncc sorts them itself, and a mutant may not be). A cycle raises (oracle-invalid)."""
    m = onnx.load(model_path)
    g = m.graph
    available = initializer_names(g) | {i.name for i in g.input} | {""}
    order: list[onnx.NodeProto] = []
    pending = list(g.node)
    while pending:
        ready = [n for n in pending if all(t in available for t in n.input)]
        if not ready:
            raise ValueError(f"a cycle through {pending[0].op_type} {pending[0].name!r}")
        for n in ready:
            available.update(n.output)
        order += ready
        taken = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in taken]
    if all(a is b for a, b in zip(order, g.node, strict=True)):
        return model_path
    set_nodes(g, order)
    path = os.path.join(os.path.dirname(model_path), "for_qonnx.onnx")
    onnx.save(m, path)
    return path


def qonnx_cleaned(model_path: str):
    """qonnx.util.cleanup.cleanup_model's steps (as tests/qonnx_ref.py applies them) but FoldTransposeIntoQuantInit:
    in qonnx 1.0.0 it transposes a quantizer's initializer in place even when the quantizer's output has another
    reader (a second Transpose or Quant), which changes what that reader sees. The other steps are unchanged."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (
        GiveReadableTensorNames,
        GiveUniqueNodeNames,
        GiveUniqueParameterTensors,
        RemoveStaticGraphInputs,
        RemoveUnusedTensors,
    )
    from qonnx.transformation.infer_shapes import InferShapes

    model = ModelWrapper(for_qonnx(model_path))
    for node in model.graph.node:  # cleanup_model's "temporary fix for QONNX op domains"
        if node.op_type in ("Quant", "Trunc", "BipolarQuant"):
            node.domain = "qonnx.custom_op.general"
    for t in (InferShapes(), GiveUniqueParameterTensors(),
              FoldConstants(exclude_op_types=["Quant", "BipolarQuant", "QuantizeLinear", "DequantizeLinear"]),
              RemoveUnusedTensors(), RemoveStaticGraphInputs(), GiveUniqueNodeNames(), GiveReadableTensorNames()):
        model = model.transform(t)
    return model


def _qonnx_labels(model_path: str, x: np.ndarray) -> list[int]:
    """qonnx's executor one image at a time (as tests/qonnx_ref.py runs it) on qonnx_cleaned(model); the raw
    output dtype is kept: an integer output is a label output."""
    from qonnx.core.onnx_exec import execute_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = qonnx_cleaned(model_path)
        in_name, out_name = model.graph.input[0].name, model.graph.output[0].name
        outs = [np.asarray(execute_onnx(model, {in_name: np.ascontiguousarray(x[i:i + 1])})[out_name])
                for i in range(x.shape[0])]
    return labels_of(_join(outs), x.shape[0]) if outs else []


def _join(values: list[np.ndarray]) -> np.ndarray:
    if values[0].ndim >= 1 and values[0].shape[0] == 1:
        return np.concatenate(values)
    return np.stack(values)


# ============================================================================================================
# Judging a step: the error-line contract, the file system, the labels
# ============================================================================================================


def stderr_problems(cmd: Command, r: StepResult) -> tuple[list[str], bool]:
    """(crash reasons, internal) for a finished bnncc step."""
    problems = []
    text = r.stderr.decode("utf-8", errors="replace")
    if r.signal is not None:
        problems.append(f"killed by signal {signal.Signals(r.signal).name}")
    elif r.returncode not in (0, 1, 2):
        problems.append(f"exit code {r.returncode}")
    if "Traceback (most recent call last)" in text:
        problems.append("traceback on stderr")
    if "Exception ignored" in text:
        problems.append("'Exception ignored' on stderr")
    if r.returncode == 1 and not cmd.verifies:
        problems.append("exit 1 (verification failed) from a command that verifies nothing")
    if r.returncode == 2:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) != 1 or not lines[0].startswith("bnncc: error:"):
            problems.append(f"a refusal must be one 'bnncc: error:' line, got {len(lines)} line(s)")
        bad = sorted({repr(c) for line in lines for c in line if not c.isprintable()})
        if bad:
            problems.append(f"control characters in the error line: {', '.join(bad[:5])}")
    internal = r.returncode == 2 and INTERNAL_ERROR_HINT in text
    return problems, internal


Entry = tuple[str, str]  # ("f", sha256) | ("d", "") | ("l", target) | ("o", "")


def snapshot(root: Path) -> dict[str, Entry]:
    """Every path under ``root`` (relative, "/"-separated), without following symlinks."""
    entries: dict[str, Entry] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            p = os.path.join(folder, name)
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            if os.path.islink(p):
                entries[rel] = ("l", os.readlink(p))
            elif os.path.isdir(p):
                entries[rel] = ("d", "")
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    entries[rel] = ("f", hashlib.sha256(f.read()).hexdigest())
            else:
                entries[rel] = ("o", "")
    return entries


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def fs_problems(root: Path, before: dict[str, Entry], after: dict[str, Entry], cmd: Command, rc: int | None,
                marker_before: set[str] | None) -> tuple[list[str], list[str]]:
    """(deletions, leftovers) of one step.

    A step that failed (anything but exit 0/1) may change nothing. One that succeeded may write only its
    destination (and the folders leading to it), or its --output file; inside an existing destination it may
    replace only what that folder's marker lists (``marker_before``), and only if the folder had one.
    """
    work = root / "work"
    ok = rc in (0, 1)
    dest = _rel(root, work, cmd.dest) if cmd.dest is not None else None
    output = _rel(root, work, cmd.output) if cmd.output else None
    ancestors = set()
    if dest is not None:
        parts = dest.split("/")
        ancestors = {"/".join(parts[:i]) for i in range(1, len(parts))}

    def may_write(path: str) -> bool:
        if not ok:
            return False
        if dest is not None and (_inside(path, dest) or path in ancestors):
            return True
        return output is not None and path == output

    def may_replace(path: str) -> bool:
        if ok and output is not None and path == output:
            return True
        if not ok or dest is None or not _inside(path, dest):
            return False
        if path == dest:  # the folder (or the symlink) itself: what was in it is judged entry by entry
            return True
        if before[path][0] == "d":
            return marker_before is not None
        rel = path[len(dest) + 1:]
        return marker_before is not None and (rel in marker_before or rel == ".bnncc-output.json")

    deletions = [f"{path!r} {'gone' if path not in after else 'changed'}" for path, entry in before.items()
                 if after.get(path) != entry and not may_replace(path)]
    leftovers = []
    for path in after:
        if path in before:
            continue
        name = os.path.basename(path)
        named = dest is not None and (_inside(path, dest) or path in ancestors)  # -o .bnncc-x: the user's choice
        if name.startswith(".bnncc-") and name != ".bnncc-output.json" and not named:
            leftovers.append(f"temporary {path!r} left behind")
        elif not may_write(path):
            leftovers.append(f"{path!r} written")
    if ok and dest is not None and cmd.kind in ("fpga", "rram"):
        leftovers += marker_problems(root / dest, dest)
    return deletions, leftovers


def marker_problems(folder: Path, rel: str) -> list[str]:
    """A finished output folder lists every file it holds in its marker, and nothing else."""
    marker = folder / ".bnncc-output.json"
    if not marker.is_file():
        return [f"{rel!r}: no .bnncc-output.json after a successful compile"]
    try:
        listed = sorted(json.loads(marker.read_text())["files"])
    except (ValueError, KeyError, TypeError) as e:
        return [f"{rel!r}: unreadable marker ({type(e).__name__})"]
    present = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                     if (p.is_file() or p.is_symlink()) and p.name != ".bnncc-output.json")
    if listed != present:
        extra, missing = sorted(set(present) - set(listed)), sorted(set(listed) - set(present))
        return [f"{rel!r}: marker does not match the folder (unlisted {extra[:3]}, missing {missing[:3]})"]
    return []


def _rel(root: Path, work: Path, path: str) -> str:
    """``path`` (as given on the command line, relative to work/) relative to the sandbox root. Symlinks in its
    parent are followed (-o link/rram writes into the link's target, as asked); the last part is not."""
    path = os.path.normpath(os.path.join(work, path.replace("{SANDBOX}", str(root))))
    resolved = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    return os.path.relpath(resolved, os.path.realpath(root)).replace(os.sep, "/")


def design_signature(target: str, folder: Path) -> list | None:
    """What a compile built, from its report.json: per FPGA block its kind, cycles and resources; per RRAM layer
    its shape and crossbar use. A meaning-preserving rewrite must not change it."""
    try:
        report = json.loads((folder / "report.json").read_text())
        if target == "fpga":
            return [[b[k] for k in ("block", "kind", "cycles", "lut", "ff", "bram18", "dsp")]
                    for b in report["estimate"]["blocks"]]
        return [[la[k] for k in ("kind", "in_features", "out_features", "planes", "slices", "tiles", "adcs",
                                 "adc_bits")] for la in report["layers"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def marker_files(folder: Path) -> set[str] | None:
    try:
        return set(json.loads((folder / ".bnncc-output.json").read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ============================================================================================================
# A mutant's job
# ============================================================================================================


def sandbox_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BNNCC_", "PYTEST_"))}
    env.update(HOME=str(root / "home"), TMPDIR=str(root / "tmp"), PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if _FROZEN_BNNCC is not None:  # ahead of the editable install's finder
        env["PYTHONPATH"] = os.pathsep.join([str(_FROZEN_BNNCC), *filter(None, [env.get("PYTHONPATH")])])
    return env


def source_fingerprint(package: Path = ROOT / "bnncc") -> str:
    """sha256 over bnncc's sources and templates: which version a campaign fuzzed."""
    h = hashlib.sha256()
    for p in sorted(package.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(p.relative_to(package).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


SENTINELS = ("keep-root.txt", "keep-parent.txt", "home/keep-home.txt", "work/notes.txt", "work/build/keep-parent.txt")


def lay_out(root: Path, m: Mutant) -> None:
    """The sandbox: home/ ($HOME), tmp/ ($TMPDIR), work/ (cwd) with the model, the input and sentinels in the
    current folder, its parent, $HOME and the parent of -o build/out."""
    plan = m.plan
    for sub in ("home", "tmp", "work"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    files = dict.fromkeys(SENTINELS, SENTINEL)
    if plan.model is not None:
        files[f"work/{plan.model_rel}"] = plan.model
    if not plan.input_missing:
        files[f"work/{plan.input_rel}"] = plan.input if plan.input is not None else m.base.input_path.read_bytes()
    for rel in plan.dirs:
        (root / rel).mkdir(parents=True, exist_ok=True)
    for rel, src in plan.copies.items():
        shutil.copytree(src, root / rel)
    files.update(plan.files)
    for rel, data in files.items():
        p = root / rel
        if p.is_dir():  # the mutation made a folder where a file would be
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    for rel, target in plan.symlinks.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / rel)
    for edit in plan.edits:
        edit(root)


def _shell(root: Path, argv: list[str]) -> str:
    argv = [a.replace("{SANDBOX}", str(root)) for a in argv]
    return f"cd {shlex.quote(str(root / 'work'))} && HOME=../home TMPDIR=../tmp bnncc {shlex.join(argv)}"


def mutant_job(m: Mutant, root: Path, keep: bool) -> Generator[Step, StepResult, dict]:
    """Runs one mutant's commands (plus a follow-up `run` and the oracle when needed); returns its record."""
    if root.exists():
        shutil.rmtree(root)
    lay_out(root, m)
    env = sandbox_env(root)
    plan = m.plan
    flags: set[str] = set()
    record: dict = {"index": m.index, "class": m.cls.name, "base": m.base.name, "detail": plan.detail,
                    "preserving": m.cls.preserving, "steps": [], "notes": []}
    commands = list(plan.commands)
    labels: list[int] | None = None
    k = 0
    while k < len(commands):
        cmd = commands[k]
        k += 1
        dest_marker = None
        if cmd.dest is not None:
            dest_marker = marker_files(root / _rel(root, root / "work", cmd.dest))
        before = snapshot(root)
        r = yield Step(f"{m.index}:{cmd.kind}", root / "work", env,
                       argv=[a.replace("{SANDBOX}", str(root)) for a in cmd.argv])
        after = snapshot(root)
        step_rec = {"command": _shell(root, cmd.argv), "kind": cmd.kind, "exit": r.returncode,
                    "wall_s": round(r.wall_s, 3), "stderr_tail": r.stderr.decode("utf-8", "replace")[-STDERR_TAIL:]}
        problems: list[str] = []
        if r.timed_out:
            flags.add(HANG)
            step_rec["problems"] = [f"no answer within {TIME_LIMIT_S:.0f} s"]
        else:
            problems, internal = stderr_problems(cmd, r)
            if problems:
                flags.add(CRASH)
                step_rec["problems"] = problems
            if internal:
                flags.add(REFUSED_INTERNAL)
        deletions, leftovers = fs_problems(root, before, after, cmd, r.returncode, dest_marker)
        if deletions:
            flags.add(DELETION)
            step_rec["deleted"] = deletions[:10]
        if leftovers:
            flags.add(LEFTOVER)
            step_rec["leftovers"] = leftovers[:10]
        if r.returncode == 1 and cmd.verifies:
            flags.add(VERIFY_FAILED)
        if m.cls.preserving and r.returncode != 0:
            flags.add(REFUSED_VALID)
        if m.cls.preserving and r.returncode == 0 and cmd.kind in ("fpga", "rram"):
            got = design_signature(cmd.kind, root / _rel(root, root / "work", cmd.dest))
            want = m.base.designs.get(cmd.kind)
            if got != want:
                flags.add(DESIGN_CHANGED)
                step_rec["design"] = {"base": want, "mutant": got}
        if r.returncode == 0 and "--json" in cmd.argv:
            note = json_problem(r.stdout)
            if note:
                step_rec.setdefault("notes", []).append(note)
                record["notes"].append(f"{cmd.kind}: {note}")
        if r.returncode == 0 and cmd.labels and labels is None:
            try:
                labels = [int(v) for v in json.loads(r.stdout.decode("utf-8"))["labels"]]
            except (ValueError, KeyError, TypeError) as e:
                flags.add(CRASH)
                step_rec.setdefault("problems", []).append(f"exit 0 but stdout is not the --json record ({e})")
        record["steps"].append(step_rec)
        if k == 1 and r.returncode in (0, 1) and not any(c.labels for c in commands):
            # accepted by inspect or a compile: does it also run, and with the oracle's labels?
            inp = cmd.argv[cmd.argv.index("--input") + 1] if "--input" in cmd.argv else plan.input_rel
            commands.append(cmd_run(cmd.argv[1] if cmd.kind == "inspect" else cmd.argv[0], inp))
    record["labels"] = labels
    if labels is not None:
        oracle = yield from _oracle(m, root, env, plan)
        record["oracle"] = oracle
        truth = oracle.get("labels")
        if truth is None and m.cls.preserving:
            truth = m.base.oracle_labels  # the same meaning by construction: the base's answer
            record["notes"].append("the oracle rejected this meaning-preserving mutant; compared with the base's")
        elif truth is not None and m.cls.preserving and truth != m.base.oracle_labels:
            record["notes"].append("the oracle's labels differ from the base's: not meaning-preserving after all")
        if truth is None:
            flags.add(ORACLE_INVALID_ACCEPTED)
        elif truth != labels:
            flags.add(SILENT_WRONG)
        else:
            flags.add(OK)
    else:
        flags.add(OK if all(s["exit"] == 0 for s in record["steps"]) else REFUSED)
    record["flags"] = sorted(flags)
    record["outcome"] = next(o for o in SEVERITY if o in flags)
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return record


def json_problem(stdout: bytes) -> str | None:
    """Why ``stdout`` is not one strict JSON document (RFC 8259 has no NaN or Infinity), or None."""
    def refuse(token: str) -> None:
        raise ValueError(f"{token} is not JSON")

    try:
        json.loads(stdout.decode("utf-8"), parse_constant=refuse)
    except ValueError as e:
        return f"--json output is not strict JSON: {str(e)[:120]}"
    return None


def _oracle(m: Mutant, root: Path, env: dict[str, str], plan: Plan) -> Generator[Step, StepResult, dict]:
    model_path = root / "work" / plan.model_rel
    input_path = root / "work" / plan.input_rel
    if not model_path.is_file() or not input_path.is_file():
        return {"invalid": "no model or input file to feed the oracle"}
    oracle_dir = root / "oracle"
    oracle_dir.mkdir(exist_ok=True)
    # the oracle works on copies in a folder of its own: nothing it does can count against bnncc
    shutil.copyfile(model_path, oracle_dir / "model.onnx")
    shutil.copyfile(input_path, oracle_dir / "input.npy")
    for rel, data in plan.files.items():  # external data next to the model
        if rel.startswith("work/") and rel.endswith(".bin"):
            (oracle_dir / rel[5:]).parent.mkdir(parents=True, exist_ok=True)
            (oracle_dir / rel[5:]).write_bytes(data)
    result = oracle_dir / "result.json"
    r = yield Step(f"{m.index}:oracle", oracle_dir, env, oracle=(m.base.flavor, str(oracle_dir / "model.onnx"),
                                                               str(oracle_dir / "input.npy")), result_file=result)
    if r.timed_out:
        return {"invalid": "the oracle hung", "wall_s": round(r.wall_s, 3)}
    if not result.exists():
        return {"invalid": f"the oracle died (exit {r.returncode}): {r.stderr.decode('utf-8', 'replace')[-300:]}"}
    return json.loads(result.read_text()) | {"wall_s": round(r.wall_s, 3)}


# ============================================================================================================
# Base checks, the campaign, the report
# ============================================================================================================


def base_job(base: Base, root: Path) -> Generator[Step, StepResult, dict]:
    """What the unmutated model does: the oracle's labels, bnncc's labels, the targets it compiles for.
    Its compile outputs are kept: they are the "previous bnncc output" of the output-folder mutants."""
    if root.exists():
        shutil.rmtree(root)
    for sub in ("home", "tmp", "work", "oracle"):
        (root / sub).mkdir(parents=True)
    shutil.copyfile(base.model_path, root / "work" / "model.onnx")
    shutil.copyfile(base.input_path, root / "work" / "input.npy")
    env = sandbox_env(root)
    result = root / "oracle" / "result.json"
    yield Step(f"{base.name}:oracle", root / "oracle", env,
               oracle=(base.flavor, str(base.model_path), str(base.input_path)), result_file=result)
    oracle = json.loads(result.read_text()) if result.exists() else {"invalid": "the oracle died"}
    r = yield Step(f"{base.name}:run", root / "work", env, argv=cmd_run("model.onnx").argv)
    try:
        bnncc_labels = json.loads(r.stdout)["labels"] if r.returncode == 0 else None
    except (ValueError, KeyError, TypeError):
        bnncc_labels = None
    targets, problems, outputs, designs = [], [], {}, {}
    if bnncc_labels is None:
        problems.append(f"bnncc run refused the base: {r.stderr.decode('utf-8', 'replace').strip()[-500:]}")
    for target in ("fpga", "rram"):
        cmd = cmd_fpga("model.onnx", "out-fpga") if target == "fpga" else cmd_rram("model.onnx", "out-rram")
        c = yield Step(f"{base.name}:{target}", root / "work", env, argv=cmd.argv)
        if c.returncode == 0:
            targets.append(target)
            outputs[target] = root / "work" / cmd.dest
            designs[target] = design_signature(target, outputs[target])
        else:
            problems.append(f"--target {target} refused the base: {c.stderr.decode('utf-8', 'replace').strip()[-300:]}")
    return {"name": base.name, "oracle": oracle, "bnncc_labels": bnncc_labels, "targets": targets,
            "outputs": outputs, "designs": designs, "problems": problems}


def check_bases(bases: Sequence[Base], work: Path, scheduler: Scheduler) -> None:
    results: dict[str, dict] = {}
    scheduler.run((base_job(b, work / "base-checks" / b.name) for b in bases),
                  lambda rec: results.__setitem__(rec["name"], rec))
    for b in bases:
        rec = results[b.name]
        if "invalid" in rec["oracle"]:
            raise RuntimeError(f"base {b.name}: the oracle cannot run it: {rec['oracle']['invalid']}")
        b.oracle_labels = rec["oracle"]["labels"]
        b.bnncc_labels = rec["bnncc_labels"]
        b.targets = tuple(rec["targets"])
        b.outputs = rec["outputs"]
        b.designs = rec["designs"]
        b.problems = list(rec["problems"])
        if b.bnncc_labels is not None and b.bnncc_labels != b.oracle_labels:
            b.problems.append(f"bnncc's labels {b.bnncc_labels} differ from the oracle's {b.oracle_labels}")


def preload() -> None:
    """Import what the commands and oracles import, once, before forking: fork children start warm."""
    import onnxruntime  # noqa: F401
    import qonnx.core.onnx_exec  # noqa: F401
    import qonnx_ref  # noqa: F401

    import bnncc.backends.fpga.driver  # noqa: F401
    import bnncc.backends.rram.backend  # noqa: F401
    import bnncc.cli  # noqa: F401
    import bnncc.commands.inspect  # noqa: F401
    import bnncc.commands.run  # noqa: F401
    import bnncc.frontend  # noqa: F401
    import bnncc.ir.executor  # noqa: F401


@dataclasses.dataclass
class Campaign:
    seed: int
    records: list[dict]
    bases: list[Base]
    wall_s: float
    runner: str
    jobs: int
    base_names: tuple[str, ...]
    bnncc_sha256: str = ""
    frozen: bool = False

    def failures(self) -> list[dict]:
        return [r for r in self.records if r["outcome"] in FAILURES]

    def outcomes(self, preserving: bool | None = None) -> Counter:
        return Counter(r["outcome"] for r in self.records if preserving is None or r["preserving"] == preserving)

    def table(self) -> str:
        order = list(CLASS_BY_NAME)
        rows = sorted({r["class"] for r in self.records}, key=order.index)
        width = max(len(c) for c in [*rows, "class"]) + 2
        cols = [(c, max(len(c), 4) + 2) for c in COLUMNS]
        lines = [f"{'class':<{width}}" + "".join(f"{c:>{w}}" for c, w in cols) + f"{'total':>8}"]
        lines.append("-" * len(lines[0]))
        for c in [*rows, "total"]:
            counts = Counter(r["outcome"] for r in self.records if c in ("total", r["class"]))
            lines.append(f"{c:<{width}}" + "".join(f"{counts.get(col, 0):>{w}}" for col, w in cols)
                         + f"{sum(counts.values()):>8}")
        return "\n".join(lines)

    def rerun_command(self, index: int) -> str:
        bases = f" --bases {','.join(self.base_names)}" if self.base_names != ALL_BASES else ""
        return (f".venv/bin/python benchmarks/fuzz.py --seed {self.seed} --runner {self.runner}{bases} "
                f"--keep --only {index}")

    def to_json(self) -> dict:
        return {
            "seed": self.seed, "mutants": len(self.records), "runner": self.runner, "jobs": self.jobs,
            "bnncc_sha256": self.bnncc_sha256, "frozen": self.frozen,
            "wall_s": round(self.wall_s, 1), "outcomes": dict(self.outcomes()),
            "preserving": sum(r["preserving"] for r in self.records),
            "bases": [{"name": b.name, "flavor": b.flavor, "targets": list(b.targets), "oracle_labels": b.oracle_labels,
                       "bnncc_labels": b.bnncc_labels, "problems": b.problems} for b in self.bases],
            "failures": [r | {"rerun": self.rerun_command(r["index"])} for r in self.failures()],
            "records": self.records,
        }


def run_campaign(mutants: int, seed: int = 0, jobs: int | None = None, runner: str = "exec",
                 work: Path | None = None, base_names: Sequence[str] = ALL_BASES, only: Sequence[int] | None = None,
                 keep: bool = False, progress: bool = False, freeze: bool = False) -> Campaign:
    """Build the bases, check them, run mutants 0..mutants-1 (or just ``only``) and collect their records.

    ``freeze`` (exec runner): run a copy of bnncc/ taken now, not the working tree (the fork runner's children
    use what this process imported, and read templates from the tree)."""
    global _FROZEN_BNNCC
    t0 = time.monotonic()
    jobs = jobs or os.cpu_count() or 1
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="bnncc-fuzz-")) if work is None else Path(work)
    fingerprint = source_fingerprint()
    if freeze and runner == "exec":
        frozen = work / "frozen"
        shutil.rmtree(frozen, ignore_errors=True)
        shutil.copytree(ROOT / "bnncc", frozen / "bnncc", ignore=shutil.ignore_patterns("__pycache__"))
        fingerprint = source_fingerprint(frozen / "bnncc")
        _FROZEN_BNNCC = frozen
    try:
        bases = prepare_bases(work / "bases", base_names)
        preload()
        scheduler = Scheduler(jobs, runner)
        check_bases(bases, work, scheduler)
        indices = list(only) if only is not None else list(range(mutants))
        records: list[dict] = []

        def done(rec: dict) -> None:
            records.append(rec)
            if progress and (len(records) % 100 == 0 or len(records) == len(indices)):
                print(f"  {len(records)}/{len(indices)} mutants, {time.monotonic() - t0:.0f} s", file=sys.stderr)

        scheduler.run((mutant_job(make_mutant(i, seed, bases), work / "mutants" / f"m{i:05d}", keep)
                       for i in indices), done)
        records.sort(key=lambda r: r["index"])
        return Campaign(seed, records, bases, time.monotonic() - t0, runner, jobs, tuple(base_names), fingerprint,
                        _FROZEN_BNNCC is not None)
    finally:
        _FROZEN_BNNCC = None
        if own_work and not keep:
            shutil.rmtree(work, ignore_errors=True)


def describe(record: dict) -> str:
    """A failing (or --only) mutant, for a person: what was changed, each command, its verdicts, its stderr."""
    lines = [f"[{record['outcome']}] #{record['index']} {record['class']} on {record['base']}: {record['detail']!r}"]
    for s in record["steps"]:
        verdicts = s.get("problems", []) + s.get("deleted", []) + s.get("leftovers", [])
        if "design" in s:
            verdicts.append(f"design {s['design']['mutant']} instead of the base's {s['design']['base']}")
        lines.append(f"  $ {s['command']}\n    exit {s['exit']}" + (f"; {'; '.join(verdicts)}" if verdicts else ""))
        lines += [f"    | {line[:300]}" for line in s["stderr_tail"].strip().splitlines()[-3:]]
    if "oracle" in record:
        lines.append(f"  bnncc labels {record['labels']}; oracle {record['oracle']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=int, default=1000, help="mutants to run (default 1,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count(), help="children at a time (default: CPU count)")
    ap.add_argument("--runner", choices=("exec", "fork"), default="exec",
                    help="exec: the bnncc console script per command (default); fork: bnncc.cli.main in a fork")
    ap.add_argument("--bases", default=",".join(ALL_BASES), help="comma-separated base models (default: all)")
    ap.add_argument("--work", type=Path, help="keep the bases and sandboxes here (default: a temporary folder)")
    ap.add_argument("--only", type=int, action="append", help="run just this mutant index (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the sandboxes (printed at the end)")
    ap.add_argument("--json", type=Path, help="write every record here")
    ap.add_argument("--no-freeze", action="store_true",
                    help="exec runner: run the working tree's bnncc, not a copy taken at the start")
    args = ap.parse_args(argv)
    names = tuple(n.strip() for n in args.bases.split(",") if n.strip())
    unknown = [n for n in names if n not in ALL_BASES]
    if unknown:
        ap.error(f"unknown base(s) {unknown}; known: {', '.join(ALL_BASES)}")
    work = args.work or (Path(tempfile.mkdtemp(prefix="bnncc-fuzz-")) if args.keep else None)
    camp = run_campaign(args.mutants, args.seed, args.jobs, args.runner, work, names, args.only, args.keep,
                        progress=True, freeze=not args.no_freeze)
    for b in camp.bases:
        for p in b.problems:
            print(f"base {b.name}: {p}")
    print(camp.table())
    print(f"{len(camp.records)} mutants ({sum(r['preserving'] for r in camp.records)} meaning-preserving), "
          f"seed {args.seed}, runner {args.runner}, {camp.jobs} jobs, {camp.wall_s:.1f} s; bnncc sources "
          f"{camp.bnncc_sha256[:12]}{' (frozen copy)' if camp.frozen else ''}")
    for r in camp.failures() if args.only is None else camp.records:
        print("\n" + describe(r))
        if args.only is None:
            print(f"  rerun: {camp.rerun_command(r['index'])}")
    if args.keep and work is not None:
        print(f"\nsandboxes kept under {work / 'mutants'}")
    if args.json:
        args.json.write_text(json.dumps(camp.to_json(), indent=1, default=str) + "\n")
    return 1 if camp.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
