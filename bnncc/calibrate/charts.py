"""The cost charts (`bnncc charts`): Deepbit's picture of what a network costs on each target, against its
width and depth, and how far the estimates are from the measurements in the store.

    cost_vs_width.png      LUT, BRAM18 and cycles per image (FPGA, at one FPS), energy (RRAM), latency (GPU
                           roofline, and the CPU's fitted latency where the model has one), for binary MLPs of depth
                           1-4 over a range of widths; the FPGA curves are the calibrated model's
    measured_vs_predicted.png  per block LUT and FF, per design first-output latency: the analytical and the
                           calibrated estimate against Yosys / RTL simulation, MAPE and share within ±10 %;
                           the fitted CPU latency against the measured where the store has cpu rows
    coverage.png           what the sweep measured: blocks per class, the MW x MH and PE x SIMD it spans
    index.html             all of them embedded (no external URL), the error table, the tools that measured

Every number plotted as measured comes from the store; the rest is labelled as the model it is.
"""

from __future__ import annotations

import base64
import io
import math
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

import bnncc
from bnncc.backends.output import staged
from bnncc.backends.templates import TEMPLATES
from bnncc.calibrate import fit as fitting
from bnncc.calibrate.store import Store
from bnncc.cost.calibrated import CalibratedModel
from bnncc.cost.model import ANALYTICAL

WIDTHS = (64, 128, 256, 512, 1024)
DEPTHS = (1, 2, 3, 4)
CHART_FPS = 10_000.0
CHART_PART = "xc7z020clg400-1"


def _figure(width: float, height: float, rows: int = 1, cols: int = 3):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(width, height), dpi=100)
    return fig, np.atleast_1d(axes).ravel()


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: the same store, the same bytes
    plt.close(fig)
    return buf.getvalue()


def grid_costs(model, widths=WIDTHS, depths=DEPTHS, fps: float = CHART_FPS, part: str = CHART_PART) -> list[dict]:
    """Per binary MLP 784-(width x depth)-10: FPGA LUT / BRAM18 / cycles at `fps`, RRAM energy and area
    (the RRAM model), GPU latency (the roofline)."""
    from bnncc import fixtures
    from bnncc.backends.fpga.driver import FpgaOptions, plan
    from bnncc.backends.rram.config import RramConfig
    from bnncc.backends.rram.estimate import estimate as rram_estimate
    from bnncc.backends.rram.mapper import map_graph
    from bnncc.calibrate.measure import gpu_roofline, matrix_layers
    from bnncc.errors import BnnccError
    from bnncc.frontend import load

    out = []
    with tempfile.TemporaryDirectory(prefix="bnncc-charts-") as tmp:
        for depth in depths:
            for width in widths:
                path = fixtures.save(fixtures.binary_mlp((784, *[width] * depth, 10), seed=0),
                                     Path(tmp) / f"mlp_{depth}_{width}.onnx")
                graph = load(str(path))
                row = {"depth": depth, "width": width}
                try:
                    est = plan(graph, FpgaOptions(part=part, fps=fps, model=model)).estimate
                    row.update(lut=est["lut"], bram18=est["bram18"], cycles=est["cycles_per_image"])
                except BnnccError:  # too big for the part at this rate: no point
                    pass
                rram = rram_estimate(map_graph(graph, RramConfig()))
                row.update(rram_energy_pj=rram["energy_pj"], rram_area_mm2=rram["area_mm2"],
                           gpu_latency_us=gpu_roofline(matrix_layers(graph)) * 1e6)
                cpu = model.cpu_latency(graph)
                if cpu is not None and not cpu["unseen_ops"]:
                    row["cpu_latency_us"] = cpu["seconds"] * 1e6
                out.append(row)
    return out


def cost_chart(grid: list[dict], model_name: str) -> bytes:
    panels = [("lut", f"FPGA LUT ({model_name}, {CHART_FPS:,.0f} FPS)"), ("bram18", "FPGA BRAM18"),
              ("cycles", "FPGA cycles / image"), ("rram_energy_pj", "RRAM energy / image, pJ (model)"),
              ("rram_area_mm2", "RRAM area, mm² (model)"),
              ("gpu_latency_us", "latency, µs: GPU H200 roofline, CPU fitted (dashed)")]
    fig, axes = _figure(12, 6.4, rows=2)
    for ax, (key, title) in zip(axes, panels, strict=True):
        for depth in sorted({r["depth"] for r in grid}):
            pts = [(r["width"], r[key]) for r in grid if r["depth"] == depth and key in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=f"depth {depth}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("hidden width")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    for i, depth in enumerate(sorted({r["depth"] for r in grid})):  # the executor on one core, where fitted
        pts = [(r["width"], r["cpu_latency_us"]) for r in grid if r["depth"] == depth and "cpu_latency_us" in r]
        if pts:
            axes[5].plot(*zip(*pts, strict=True), ls="--", marker=".", color=f"C{i}")
    return _png(fig)


def block_predictions(store: Store, model: CalibratedModel | None) -> dict[str, list[tuple[float, float, float]]]:
    """Per resource: (measured, analytical, calibrated) per synthesized block of the store."""
    from bnncc.cost.devices import device

    out: dict[str, list] = defaultdict(list)
    samples = fitting.block_samples(store)
    parts = {d["design_key"]: d["part"] for d in store.designs("fpga")}
    for s in samples:
        dev = device(parts[s["design_key"]])
        terms = fitting._terms(s)
        analytical = ANALYTICAL.block_cost(s["cost_class"], terms, dev)
        calibrated = model.block_cost(s["cost_class"], terms, dev) if model else analytical
        for r in ("lut", "ff"):
            out[r].append((s["y"][r], float(analytical[r]), float(calibrated[r])))
    return out


def latency_pairs(store: Store) -> list[tuple[float, float]]:
    """(measured, predicted now) first-output latency per design with an RTL simulation: the design is rebuilt
    from its spec and timed by the token model (Design.latency)."""
    from bnncc.calibrate import space

    sim = {r["design_key"]: r["value"] for r in store.rows(target="fpga", source="rtlsim", metric="latency_cycles")}
    out = []
    for d in store.designs("fpga"):
        design = space.rebuild(d) if d["design_key"] in sim else None
        if design is not None:
            out.append((sim[d["design_key"]], float(design.latency())))
    return out


def cpu_pairs(store: Store, model: CalibratedModel) -> list[tuple[float, float]]:
    """(measured, fitted) executor latency in seconds per cpu-measured design of the store."""
    from bnncc.cost import latency

    entry = model.data.get("cpu", {}).get("runtimes", {}).get("executor")
    if entry is None:
        return []
    return [(s["seconds"]["latency_s"], latency.predict(entry, s["features"])[0])
            for s in fitting.cpu_samples(store) if "latency_s" in s["seconds"]]


def accuracy_chart(blocks: dict, latency: list, cpu: list | None = None) -> tuple[bytes, list[dict]]:
    fig, axes = _figure(16 if cpu else 12, 3.8, cols=4 if cpu else 3)
    table: list[dict] = []
    for ax, resource, metric in zip(axes, ("lut", "ff"), ("LUT per block", "FF per block"), strict=False):
        pairs = np.array(blocks.get(resource, []), dtype=float).reshape(-1, 3)  # measured, analytical, calibrated
        series = [(metric, name, color, pairs[:, i], pairs[:, 0])
                  for i, (name, color) in enumerate([("analytical", "tab:orange"), ("calibrated", "tab:blue")], 1)]
        _panel(ax, f"{metric}: predicted vs Yosys", "measured", series if len(pairs) else [], table)
    cycles = np.array(latency, dtype=float).reshape(-1, 2)
    _panel(axes[2], "first-output latency: token model vs RTL simulation", "measured cycles",
           [("first-output latency (cycles)", "token model", "tab:green", cycles[:, 1], cycles[:, 0])]
           if len(cycles) else [], table)
    if cpu:
        us = np.array(cpu, dtype=float) * 1e6  # µs: the error's floor of 1 never bites
        _panel(axes[3], "CPU latency of one image: fitted vs measured", "measured µs",
               [("CPU latency (µs, executor)", "fitted", "tab:purple", us[:, 1], us[:, 0])], table)
    return _png(fig), table


def _panel(ax, title: str, xlabel: str, series: list[tuple], table: list[dict]) -> None:
    """One predicted-vs-measured panel: per series (metric, estimate, colour, predicted, measured) its points,
    its error in the legend and a row of the table; a panel with nothing measured says so."""
    ax.set_title(title, fontsize=9)
    if not series:
        ax.text(0.5, 0.5, "nothing of this kind in the store", ha="center", va="center", transform=ax.transAxes,
                fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    for metric, name, color, pred, y in series:
        row = _error_row(metric, name, pred, y)
        table.append(row)
        ax.scatter(y, pred, s=8, alpha=0.6, c=color,
                   label=f"{name}: MAPE {row['mape']:.1f} %, {row['within_10']:.0%} within ±10 %")
    _diagonal(ax, series[0][4])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("predicted")
    ax.legend(fontsize=7)


def _error_row(metric: str, name: str, pred: np.ndarray, y: np.ndarray) -> dict:
    rel = np.abs(pred - y) / np.maximum(y, 1)
    return {"metric": metric, "estimate": name, "n": int(len(y)), "mape": float(rel.mean() * 100),
            "within_10": float((rel <= 0.1).mean())}


def _diagonal(ax, y: np.ndarray) -> None:
    lo, hi = max(float(np.min(y)), 1.0), max(float(np.max(y)), 2.0)
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)


def coverage_chart(store: Store) -> tuple[bytes, dict]:
    samples = fitting.block_samples(store)
    classes = Counter(s["cost_class"] for s in samples)
    fig, axes = _figure(12, 3.6)
    if classes:
        names = sorted(classes)
        axes[0].barh(names, [classes[n] for n in names], color="tab:blue")
    axes[0].set_title("synthesized blocks per cost class", fontsize=9)
    mv = [s["params"] for s in samples if s["kind"] == "mvau"]
    if mv:
        axes[1].scatter([p["MW"] for p in mv], [p["MH"] for p in mv], s=10, alpha=0.6)
        axes[2].scatter([p["SIMD"] for p in mv], [p["PE"] for p in mv], s=10, alpha=0.6)
    for ax, (x, y, title) in zip(axes[1:], [("MW", "MH", "MVAU matrix sizes"), ("SIMD", "PE", "MVAU folding")],
                                 strict=True):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
    designs = store.designs()
    return _png(fig), {"blocks": len(samples), "classes": dict(sorted(classes.items())),
                       "designs": dict(sorted(Counter(f"{d['target']} {d['part']}" for d in designs).items())),
                       "families": dict(sorted(Counter(d["spec"].get("family", "ingested") for d in designs).items()))}


def _page_environment():
    """HTML-escaping jinja2 (the writers' environment renders code and escapes nothing): every name that
    reaches the page from a store or a sweep file is text, never markup."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                              autoescape=True, keep_trailing_newline=True)


def write(store_path: str, out: str, model_path: str | None = None, widths=WIDTHS, depths=DEPTHS) -> dict:
    """Write the charts and the page into `out` (atomically); returns what the page shows."""
    with Store(store_path, create=False) as store:
        model = CalibratedModel.load(model_path) if model_path else CalibratedModel(data=fitting.fit(store))
        blocks = block_predictions(store, model)
        latency = latency_pairs(store)
        cpu_fit = cpu_pairs(store, model)
        coverage_png, coverage = coverage_chart(store)
        tools = sorted({f"{k}: {v}" for d in store.designs() for k, v in d["tools"].items()})
        counts = store.counts()
    accuracy_png, table = accuracy_chart(blocks, latency, cpu_fit)
    grid = grid_costs(model, widths, depths)
    images = {"cost_vs_width.png": cost_chart(grid, "calibrated"), "measured_vs_predicted.png": accuracy_png,
              "coverage.png": coverage_png}
    page = _page_environment().get_template("charts/index.html.j2").render(
        version=bnncc.__version__, store=Path(store_path).name, counts=counts, coverage=coverage, table=table,
        tools=tools, model=model.describe(), grid=grid, fps=CHART_FPS, part=CHART_PART,
        images={name: base64.b64encode(data).decode() for name, data in images.items()},
        isfinite=math.isfinite)
    with staged(Path(out)) as tmp:
        for name, data in images.items():
            (tmp / name).write_bytes(data)
        (tmp / "index.html").write_text(page)
    return {"out": out, "files": sorted([*images, "index.html"]), "table": table, "coverage": coverage}
