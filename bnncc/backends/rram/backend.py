"""`bnncc MODEL.onnx --target rram`: map the network onto crossbars, estimate area / energy / latency,
write ``OUT/rram`` atomically and optionally run the ideal crossbar simulation against the executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bnncc.backends.contract import Backend
from bnncc.backends.output import staged
from bnncc.backends.rram.config import G_OFF, G_ON, RramConfig, parse_xbar
from bnncc.ir.graph import Graph

N_RANDOM = 64


@dataclass
class RramOptions:
    out: str = "out"
    xbar: str = "128x128"  # ROWSxCOLS
    encoding: str = "differential"
    cell_bits: int = 1
    adc_bits: int | None = None  # None: derived per layer so the crossbars are exact
    g_on: float = G_ON
    g_off: float = G_OFF
    sim: bool = False
    input: np.ndarray | None = None  # float model inputs for the simulation (implies sim)

    def config(self, adc_bits: bool = True) -> RramConfig:
        """The crossbar technology (`adc_bits=False`: exact ADCs, as the sweep maps)."""
        rows, cols = parse_xbar(self.xbar)
        return RramConfig(rows=rows, cols=cols, encoding=self.encoding, cell_bits=self.cell_bits,
                          adc_bits=self.adc_bits if adc_bits else None, g_on=self.g_on, g_off=self.g_off)


def random_inputs(shape: tuple[int, ...], n: int = N_RANDOM, seed: int = 0) -> np.ndarray:
    """Seeded inputs in four common scalings (N(0,1), U(0,1), U(-1,1), U(0,255)), a quarter each, so
    the head's quantizer sees codes across its range whichever scaling the model expects."""
    rng = np.random.default_rng(seed)
    q = -(-n // 4)
    parts = [rng.standard_normal((q, *shape)), rng.random((q, *shape)), rng.uniform(-1, 1, (q, *shape)),
             rng.uniform(0, 255, (q, *shape))]
    return np.concatenate(parts)[:n].astype(np.float32)


def verify(graph, folder: Path, x: np.ndarray) -> dict:
    """Ideal crossbar simulation from the files vs the reference executor, vector by vector, at the
    integer interface (every stage's integers, the hardware output) and after the host tail."""
    from bnncc.ir.executor import run
    from bnncc.sim.crossbar import CrossbarSim

    ref = run(graph, x, trace=True)
    got = CrossbarSim(folder).run(x, trace=True)
    n = len(ref.labels)

    def differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.asarray(a).reshape(n, -1), np.asarray(b).reshape(n, -1)
        if a.shape != b.shape:
            return np.ones(n, bool)
        same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
        return ~same.all(axis=1)

    bad = differs(ref.hardware_out, got.hardware_out) | (ref.labels != got.labels)
    for r, g in zip(ref.outputs, got.outputs, strict=False):
        bad |= differs(r, g)
    if len(ref.outputs) != len(got.outputs):
        bad[:] = True
    first = None
    for i, node in enumerate(graph.nodes):
        out = node.outputs[0]
        if i in got.trace and out in ref.trace and differs(ref.trace[out], got.trace[i]).any():
            first = i
            break
    return {"passed": not bad.any(), "vectors": n, "mismatches": int(bad.sum()), "first_mismatch_layer": first,
            "compared": ["every stage's integers", "hardware_out", "outputs", "labels"]}


class RramBackend(Backend):
    target = "rram"
    Options = RramOptions

    def compile(self, graph: Graph, opts: RramOptions) -> dict:
        """Map `graph`, write ``opts.out/rram``, return the report dict."""
        from bnncc.backends.rram.estimate import estimate
        from bnncc.backends.rram.mapper import map_graph
        from bnncc.backends.rram.writer import build_report, dump_json, write_mapping

        cfg = opts.config()
        x = opts.input
        mapping = map_graph(graph, cfg)
        dest = Path(opts.out) / "rram"
        with staged(dest) as tmp:
            write_mapping(mapping, tmp)
            verification = None
            if opts.sim or x is not None:
                if x is None:
                    x = random_inputs(tuple(graph.input_type.shape))
                verification = verify(graph, tmp, x)
            report = build_report(mapping, estimate(mapping), verification)
            dump_json(tmp / "report.json", report)
        return report | {"out": str(dest)}

    def summary(self, report: dict) -> str:
        """Human-readable lines for the terminal (stderr) when --json is not given."""
        est = report["estimate"]
        lines = [f"{'layer':<7}{'kind':<8}{'rows x cols':>13}{'tiles':>7}{'planes':>8}{'slices':>8}{'ADCs':>6}"
                 f"{'bits':>6}{'util':>7}"]
        for r in report["layers"]:
            lines.append(f"{r['index']:<7}{r['kind']:<8}{r['word_lines']:>7} x {r['out_features']:<4}"
                         f"{r['tiles']:>7}{r['planes']:>8}{r['slices']:>8}{r['adcs']:>6}{r['adc_bits']:>6}"
                         f"{r['cell_utilization']:>7.0%}")
        g = est["energy_pj_by_group"]
        lines.append(f"{report['tiles']} crossbars {report['crossbar']} ({report['encoding']}, "
                     f"{report['cell_bits']}-bit cells), {report['adcs']} ADCs, area {est['area_mm2']:.4f} mm2, "
                     f"{est['energy_pj']:,.0f} pJ/inference (array {g['array']:,.0f}, ADC {g['adc']:,.0f}, "
                     f"digital {g['digital']:,.0f}), latency {est['latency_ns']:,.0f} ns, "
                     f"{est['tops_per_w']:.1f} TOPS/W")
        if not report["adc_exact"]:
            lines.append("ADC resolution below the exact one: the crossbars do not reproduce the executor exactly")
        sim = report.get("verification", {}).get("crossbar_sim")
        if sim:
            verdict = "passed" if sim["passed"] else f"FAILED (first differing layer {sim['first_mismatch_layer']})"
            lines.append(f"crossbar sim: {verdict}: {sim['vectors']} vectors, {sim['mismatches']} mismatches")
        lines.append(f"wrote {report['out']}")
        return "\n".join(lines)
