"""The search's pictures and page: the cost chart the selection read (predicted LUT and FPS against width, per
depth, with the budget), accuracy against cost for every trained network (predicted and, where measured,
measured cost; the Pareto front of the candidates), and one self-contained HTML page holding both."""

from __future__ import annotations

import base64

import bnncc
from bnncc.calibrate.charts import _figure, _page_environment, _png

MARKERS = {"calibrated": ("o", "tab:blue"), "macs": ("s", "tab:orange"), "bops": ("^", "tab:green")}


def write(out, files: dict[str, bytes]) -> None:
    """Each file written beside its place and renamed into it: a reader sees the old file or the new one."""
    for name, data in files.items():
        tmp = out / f".{name}.partial"
        tmp.write_bytes(data)
        tmp.replace(out / name)


def primary(result: dict) -> str:
    """The cost the search's charts show: LUT on an FPGA, energy on RRAM, latency on a GPU or CPU."""
    from bnncc.search.arch import PRIMARY

    return PRIMARY[result["options"].get("target", "fpga")]


def built(row: dict) -> dict:
    """What was built of a pick: its measured numbers, else its modelled ones (RRAM, GPU)."""
    return {**row.get("modelled", {}), **row.get("measured", {})}


def chart_png(result: dict) -> bytes:
    budget = result["options"]["budget"]
    cost = primary(result)
    title = "predicted LUT at the cheapest folding" if cost == "lut" else f"{cost} ({result['chart'][0]['source']})"
    panels = [(cost, title), ("fps", "FPS")]
    fig, axes = _figure(11, 4.2, cols=2)
    for ax, (metric, title) in zip(axes, panels, strict=True):
        for depth in sorted({p["arch"]["depth"] for p in result["chart"]}):
            pts = [(p["arch"]["width"], p[metric]) for p in result["chart"]
                   if p["arch"]["depth"] == depth and metric in p]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker=".", label=f"depth {depth}")
        if metric in budget:
            ax.axhline(budget[metric]["bound"], color="k", ls="--", lw=1, label=f"budget {budget[metric]['op']} "
                       f"{budget[metric]['bound']:,.0f}")
        for r in result["picks"]:
            if r["method"] == "calibrated" and r["predicted"].get(metric) is not None:
                ax.scatter([r["arch"]["width"]], [r["predicted"][metric]], s=60, facecolors="none",
                           edgecolors="k", zorder=3)
        ax.set_xlabel("width")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    return _png(fig)


def pareto_png(result: dict) -> bytes:
    cost = primary(result)
    fig, axes = _figure(6.5, 4.5, cols=1)
    ax = axes[0]
    for method, (marker, color) in MARKERS.items():
        rows = [r for r in result["picks"] if r["method"] == method and "accuracy" in r and r["predicted"].get(cost)]
        if rows:
            ax.scatter([r["predicted"][cost] for r in rows], [100 * r["accuracy"] for r in rows], marker=marker,
                       facecolors="none", edgecolors=color, label=f"{method} pick, predicted")
        done = [r for r in rows if cost in built(r)]
        if done:
            ax.scatter([built(r)[cost] for r in done], [100 * r["accuracy"] for r in done], marker=marker,
                       color=color, label=f"{method} pick, built")
    front, best = [], -1.0
    for r in sorted((r for r in result["picks"] if r["method"] == "calibrated" and "accuracy" in r),
                    key=lambda r: r["predicted"][cost]):
        if r["accuracy"] > best:
            front.append(r)
            best = r["accuracy"]
    if front:
        ax.step([r["predicted"][cost] for r in front], [100 * r["accuracy"] for r in front], where="post",
                color="tab:blue", alpha=0.5, label="Pareto front (the search's picks)")
    limit = result["options"]["budget"].get(cost)
    if limit:
        ax.axvline(limit["bound"], color="k", ls="--", lw=1, label="budget")
    ax.set_xlabel(cost)
    ax.set_ylabel(f"test accuracy, % ({result['options']['dataset']})")
    ax.set_title("accuracy against cost of the trained networks", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def render(result: dict) -> dict[str, bytes]:
    images = {"chart.png": chart_png(result), "pareto.png": pareto_png(result)}
    page = _page_environment().get_template("search/index.html.j2").render(
        r=result, version=bnncc.__version__, images={k: base64.b64encode(v).decode() for k, v in images.items()},
        cost=primary(result), built=built)
    return {**images, "index.html": page.encode()}


def codesign_pngs(result: dict) -> dict[str, bytes]:
    fig, axes = _figure(6.5, 4.5, cols=1)
    ax = axes[0]
    ok = [t for t in result["trials"] if t["violation"] <= 0]
    bad = [t for t in result["trials"] if t["violation"] > 0]
    if bad:
        ax.scatter([t["lut"] for t in bad], [100 * (1 - t["error"]) for t in bad], marker="x", color="tab:gray",
                   label="outside the budget")
    ax.scatter([t["lut"] for t in ok], [100 * (1 - t["error"]) for t in ok], color="tab:blue", label="evaluated")
    front = result["pareto"]
    if front:
        ax.step([p["lut"] for p in front], [100 * (1 - p["error"]) for p in front], where="post", color="tab:red",
                label="Pareto front")
    ax.set_xlabel("predicted LUT at the cheapest folding")
    ax.set_ylabel(f"proxy test accuracy, % ({result['options']['dataset']})")
    ax.set_title(f"co-design, {result['options']['sampler']} sampler", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    pareto = _png(fig)
    fig, axes = _figure(6.5, 3.6, cols=1)
    hv = result["hypervolume"]
    axes[0].plot(range(1, len(hv) + 1), hv, marker=".")
    axes[0].set_xlabel("evaluations")
    axes[0].set_ylabel("hypervolume (share of the reference box)")
    axes[0].set_title("hypervolume against evaluations", fontsize=9)
    axes[0].grid(True, alpha=0.3)
    return {"pareto.png": pareto, "hypervolume.png": _png(fig)}


def render_codesign(result: dict) -> dict[str, bytes]:
    images = codesign_pngs(result)
    page = _page_environment().get_template("search/codesign.html.j2").render(
        r=result, version=bnncc.__version__, images={k: base64.b64encode(v).decode() for k, v in images.items()})
    return {**images, "index.html": page.encode()}
