"""The report's plots, one function each; every function saves one PNG and returns its path.

Each plot shows one section (one timing method, L2 state and unit: bench.report.sections), so nothing
measured differently shares an axis. Choices made for a reader who glances:
- one panel per (mode, precision): fp16 and bf16 never share an axis, so neither hides the other; within
  a panel, series differ in colour, marker and line style, and are offset a little along x;
- the copy (memcpy) is the yardstick, not a data line: a wide pale band with no markers, labelled;
- the GPU's L2 size is a dotted vertical line: left of it, input and output fit in L2 and a point can
  beat the HBM bandwidth (with rotated buffers it only marks the size: calls stream from memory);
- the ratio heatmap is centred on 1, white inside the ±threshold band the verdicts use and coloured in
  fixed steps beyond it, so run-to-run noise stays white; every cell prints its ratio and point count;
- labels are short (H100, R1); the markdown maps them to full names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window, also on CI machines without a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.lines import Line2D

from bench.report import frames, summaries
from bench.report.sections import Section

DPI = 110
PANEL_W, PANEL_H = 3.7, 2.9
LEGEND_COLUMNS = 3
MIN_FIG_W = 9.0  # inches: room for the title and the legend however few panels there are
MARKERS = ("o", "s", "D", "^", "v", "P", "X")
LINESTYLES = ("-", "--", "-.", ":")
DODGE_DECADES = 0.012  # series offset along a log x axis, in decades (about 3% per step)
COPY_STYLE = {"lw": 7.0, "alpha": 0.22, "solid_capstyle": "round", "zorder": 1}
L2_STYLE = {"ls": (0, (1, 2)), "lw": 1.4, "zorder": 2}
RATIO_STEPS = (0.25, 0.5, 1.0)  # colour steps beyond the threshold: ±25%, ±50%, 2x


@dataclass(frozen=True)
class Look:
    color: tuple
    marker: str
    ls: object
    size: float
    dodge: float


def looks(section: Section) -> tuple[dict[str, Look], dict[str, tuple]]:
    """A look per kernel series and a colour per side label. Several sides: colour = side, marker and
    line style = backend. One side: colour = backend. Markers are hollow and shrink with the series
    index, so a series drawn on top of another leaves the one below visible."""
    rows = section.rows
    side_labels = [s.label for s in section.sides]
    kernel_series = list(dict.fromkeys(frames.kernels(rows).sort_values(["side_label", "backend"])["series"]))
    backends = sorted(frames.kernels(rows)["backend"].astype(str).unique())
    palette = sns.color_palette("colorblind", max(len(side_labels), len(backends), 1) + 1)
    side_color = {label: palette[i] for i, label in enumerate(side_labels)} if len(side_labels) > 1 else {}
    out = {}
    k = len(kernel_series)
    sizes = rows["numel"].nunique()
    base = 7.5 if sizes <= 12 else 5.5 if sizes <= 25 else 4.0  # dense sweeps: small markers, else beads
    for i, series in enumerate(kernel_series):
        first = rows[rows["series"] == series].iloc[0]
        b = backends.index(str(first["backend"]))
        color = side_color.get(first["side_label"], palette[b])
        out[series] = Look(
            color,
            MARKERS[b % len(MARKERS)],
            LINESTYLES[i % len(LINESTYLES)],
            base - base / 6 * (i % 4),
            i - (k - 1) / 2,
        )
    copy_color = side_color or {label: (0.15, 0.15, 0.15) for label in side_labels}
    return out, copy_color


def _save(fig: plt.Figure, out_dir: Path, name: str, tight: bool = True) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight" if tight else None)
    plt.close(fig)
    return path


def _grid(modes: list[str], precisions: list[str], sharey: bool, legend_rows: int) -> tuple[plt.Figure, np.ndarray]:
    """Panels with fixed margins in inches (title above, legend below): one draw at save time instead of
    the two or more a tight bounding box or a layout engine needs, which matters with 12 panels."""
    width = min(max(PANEL_W, MIN_FIG_W / len(precisions)), 1.6 * PANEL_W)  # few panels: wider ones
    top_in, bottom_in = 0.95, 0.65 + 0.22 * legend_rows
    w, h = width * len(precisions), PANEL_H * len(modes) + top_in + bottom_in
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(len(modes), len(precisions), figsize=(w, h), sharex=True, sharey=sharey, squeeze=False)
    fig.subplots_adjust(
        left=0.8 / w, right=1 - 0.25 / w, top=1 - top_in / h, bottom=bottom_in / h, wspace=0.3, hspace=0.42
    )
    return fig, axes


def _plain(value: float, _pos: object = None) -> str:
    """Tick text without powers of ten: 0.5, 2, 50, 2000."""
    return f"{value:g}"


def _log_axis(axis: matplotlib.axis.Axis, low: float, high: float, plain: bool) -> None:
    """A log axis spanning at least a decade (one size must not spread its minor ticks into a smear), ticks
    at 1-2-5 steps with plain numbers where asked, no minor tick labels."""
    if np.isfinite(low) and np.isfinite(high) and low > 0:
        centre = np.sqrt(low * high)
        half = max(np.sqrt(high / low), np.sqrt(10.0)) * 10**0.2  # a margin of 0.2 decades each side
        (axis.axes.set_xlim if axis is axis.axes.xaxis else axis.axes.set_ylim)(centre / half, centre * half)
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0) if plain else (1.0,)))
    axis.set_minor_locator(ticker.NullLocator())  # minor ticks cost a third of the drawing and say little here
    if plain:
        axis.set_major_formatter(ticker.FuncFormatter(_plain))
    elif high / low < 10:  # one or two sizes: name them, a decade tick alone says little
        axis.set_major_locator(ticker.FixedLocator(sorted({low, high})))
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: summaries.human_count(v)))


def _panels(section: Section) -> tuple[list[str], list[str]]:
    rows = frames.kernels(section.rows)
    rows = rows if len(rows) else section.rows
    return sorted(rows["mode"].astype(str).unique()), _precision_order(rows["precision"])


def _precision_order(values: pd.Series) -> list[str]:
    present = [str(v) for v in values.unique()]
    return [p for p in frames.PRECISION_ORDER if p in present] + sorted(
        p for p in present if p not in frames.PRECISION_ORDER
    )


def _dodge(x: pd.Series, look: Look) -> np.ndarray:
    return x.to_numpy(dtype=float) * 10 ** (DODGE_DECADES * look.dodge)


def _draw_kernels(ax: plt.Axes, curves: pd.DataFrame, value: str, styles: dict[str, Look], band: bool) -> None:
    for series, g in curves.groupby("series", sort=False):
        look = styles[series]
        g = g.sort_values("numel")
        x = _dodge(g["numel"], look)
        if band and (g["rows"] > 1).any():
            ax.fill_between(x, g["low"], g["high"], color=look.color, alpha=0.12, lw=0, zorder=2)
        ax.plot(
            x, g[value], color=look.color, ls=look.ls, lw=1.3, marker=look.marker, ms=look.size, mfc="none",
            mew=1.3, zorder=3,
        )  # fmt: skip


def _draw_copy(ax: plt.Axes, copy: pd.DataFrame, value: str, colors: dict[str, tuple]) -> None:
    for side, g in copy.groupby("side_label", sort=False):
        g = g.sort_values("numel")
        ax.plot(g["numel"], g[value], color=colors.get(side, "black"), **COPY_STYLE)


def _draw_l2(ax: plt.Axes, l2: dict[str, float], precision: str, colors: dict[str, tuple]) -> None:
    for side, size in l2.items():
        ax.axvline(size / (2 * frames.itemsize(precision)), color=colors.get(side, "dimgray"), **L2_STYLE)


def _legend_rows(styles: dict[str, Look], extra: int) -> int:
    return -(-(len(styles) + extra) // LEGEND_COLUMNS)


def _legend(fig: plt.Figure, section: Section, styles: dict[str, Look], colors: dict[str, tuple], extra: list) -> None:
    handles = [
        Line2D([], [], color=s.color, ls=s.ls, marker=s.marker, ms=s.size, mfc="none", mew=1.3, label=name)
        for name, s in styles.items()
    ] + extra
    if handles:
        fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=LEGEND_COLUMNS,
                   fontsize="small", frameon=False)  # fmt: skip


def _copy_handles(section: Section, colors: dict[str, tuple], has_copy: set[str]) -> list:
    return [
        Line2D([], [], color=colors.get(s.label, "black"), lw=COPY_STYLE["lw"], alpha=COPY_STYLE["alpha"] + 0.1,
               label="copy (memcpy)" + ("" if s.label == "all" else f" · {s.label}"))
        for s in section.sides if s.label in has_copy
    ]  # fmt: skip


def _l2_handles(l2: dict[str, float], colors: dict[str, tuple], rotated: bool = False) -> list:
    # rotated buffers: every call streams from memory on both sides of the line (it marks the L2's size)
    what = ": in+out fill it there (calls stream from memory)" if rotated else ": in+out fit left of it"
    return [
        Line2D([], [], color=colors.get(side, "dimgray"), label=f"L2 {summaries.human_bytes(size)}"
               + ("" if side == "all" else f" ({side})") + what, **L2_STYLE)
        for side, size in l2.items()
    ]  # fmt: skip


def plot_time(section: Section, out_dir: Path) -> Path:
    """Median time per call vs elements, one panel per (mode, precision), log-log; the band spans the
    row medians a line stands for (channel axes, runs), the pale wide line is the copy of the tensor."""
    curves = frames.time_curves(section.rows)
    copy = frames.copy_time(section.rows)
    modes, precisions = _panels(section)
    styles, colors = looks(section)
    fig, axes = _grid(modes, precisions, sharey=True, legend_rows=_legend_rows(styles, 1 + len(section.sides)))
    for r, mode in enumerate(modes):
        for c, prec in enumerate(precisions):
            ax = axes[r][c]
            _draw_copy(ax, copy[copy["precision"] == prec], "median_us", colors)
            _draw_kernels(
                ax, curves[(curves["mode"] == mode) & (curves["precision"] == prec)], "median_us", styles, True
            )
            _finish_panel(ax, mode, prec, r == len(modes) - 1, c == 0, "median µs per call")
            ax.set_yscale("log")
    ax = axes[0][0]
    values = pd.concat([curves["low"], curves["high"], copy["median_us"]]) if len(curves) else copy["median_us"]
    _log_axis(ax.yaxis, float(values.min()), float(values.max()), plain=True)
    _log_axis(ax.xaxis, float(section.rows["numel"].min()), float(section.rows["numel"].max()), plain=False)
    _legend(fig, section, styles, colors, _copy_handles(section, colors, set(copy["side_label"])))
    fig.suptitle(f"Time per call vs tensor size ({section.title})", y=1 - 0.15 / fig.get_figheight())
    return _save(fig, out_dir, f"{section.slug}-time.png", tight=False)


def _finish_panel(ax: plt.Axes, mode: str, prec: str, bottom: bool, left: bool, ylabel: str) -> None:
    ax.set_xscale("log")
    ax.set_title(f"{mode} · {prec}", fontsize="medium")
    ax.set_xlabel("elements" if bottom else "")
    ax.set_ylabel(ylabel if left else "")


def _bytes_axis(ax: plt.Axes, itemsize: int) -> None:
    """Tensor bytes along the top (KiB, MiB, GiB ticks): what L2 sizes and copies are quoted in."""
    top = ax.secondary_xaxis("top", functions=(lambda x: x * itemsize, lambda b: b / itemsize))
    top.xaxis.set_major_locator(ticker.FixedLocator([1024.0**k for k in range(1, 5)]))
    top.xaxis.set_minor_locator(ticker.NullLocator())
    top.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: summaries.human_bytes(v)))
    top.tick_params(labelsize="x-small")


def plot_bandwidth(section: Section, out_dir: Path) -> Path:
    """Achieved GB/s vs elements per (mode, precision), the copy of the same tensor as the roofline,
    and the L2 size of each side's GPU."""
    curves = frames.bandwidth_curves(section.rows)
    roof = frames.roofline(section.rows)
    l2 = frames.l2_bytes(section.rows)
    modes, precisions = _panels(section)
    styles, colors = looks(section)
    fig, axes = _grid(modes, precisions, sharey=False, legend_rows=_legend_rows(styles, 2 * len(section.sides)))
    top = max(curves["gbps"].max() if len(curves) else 0, roof["gbps"].max() if len(roof) else 0, 1e-9)
    for r, mode in enumerate(modes):
        for c, prec in enumerate(precisions):
            ax = axes[r][c]
            _draw_copy(ax, roof[roof["precision"] == prec], "gbps", colors)
            _draw_kernels(ax, curves[(curves["mode"] == mode) & (curves["precision"] == prec)], "gbps", styles, False)
            _draw_l2(ax, l2, prec, colors)
            _finish_panel(ax, mode, prec, r == len(modes) - 1, c == 0, "GB/s")
            ax.set_ylim(0, top * 1.08)
            if r == 0:
                _bytes_axis(ax, frames.itemsize(prec))
    xs = [float(section.rows["numel"].min()), float(section.rows["numel"].max())]
    xs += [size / (2 * frames.itemsize(p)) for size in l2.values() for p in precisions]
    _log_axis(axes[0][0].xaxis, min(xs), max(xs), plain=False)
    extra = _copy_handles(section, colors, set(roof["side_label"])) + _l2_handles(l2, colors, section.rotated)
    _legend(fig, section, styles, colors, extra)
    what = "vs the copy (memcpy) of the same tensor" if len(roof) else "(no memcpy rows: no roofline)"
    fig.suptitle(f"Achieved bandwidth {what} ({section.title})", y=1 - 0.15 / fig.get_figheight())
    return _save(fig, out_dir, f"{section.slug}-bandwidth.png", tight=False)


def ratio_colors(threshold: float) -> tuple[list[float], ListedColormap, BoundaryNorm]:
    """Colour bins of a time ratio: white within 1 ± threshold, then fixed steps to 2x either way."""
    ups = [1 + threshold] + [1 + s for s in RATIO_STEPS if s > threshold]
    edges = [1 / u for u in reversed(ups)] + ups
    n_side = len(ups)  # colours per side: the bins between the edges plus the one beyond the last
    blues = sns.color_palette("Blues_r", n_side + 1)[:n_side]
    reds = sns.color_palette("Reds", n_side + 1)[1:]
    cmap = ListedColormap([*blues, (1.0, 1.0, 1.0), *reds])
    return edges, cmap, BoundaryNorm(edges, cmap.N, extend="both")


def plot_ratio_heatmap(
    panels: list[tuple[str, pd.DataFrame, pd.DataFrame]],
    base: str,
    backend: str,
    threshold: float,
    path_stem: str,
    out_dir: Path,
) -> Path:
    """One panel per candidate side: rows mode · precision, columns sizes; a cell is the geometric mean of
    the time ratio cand/base over the points it holds (n printed beside it)."""
    edges, cmap, norm = ratio_colors(threshold)
    nrows = max(len(r) for _, r, _ in panels)
    ncols = max(len(r.columns) for _, r, _ in panels)
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(2.2 + 0.78 * ncols, 0.9 + (0.5 + 0.42 * nrows) * len(panels)), squeeze=False
    )
    for ax, (cand, ratio, n) in zip(axes[:, 0], panels, strict=True):
        values = ratio.to_numpy(dtype=float)
        mesh = ax.pcolormesh(np.ma.masked_invalid(values), cmap=cmap, norm=norm, edgecolors="0.85", linewidth=0.5)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                dark = v < edges[1] or v > edges[-2]
                ax.text(j + 0.5, i + 0.5, f"{v:.3f}\nn={n.iat[i, j]}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")  # fmt: skip
        ax.set_xticks(np.arange(len(ratio.columns)) + 0.5, ratio.columns, rotation=45 if ncols > 6 else 0,
                      ha="right" if ncols > 6 else "center", fontsize="small")  # fmt: skip
        ax.set_yticks(np.arange(len(ratio.index)) + 0.5, ratio.index, fontsize="small")
        ax.invert_yaxis()
        ax.set_facecolor("0.93")  # no point: grey
        what = f"{backend}: " if backend else ""
        ax.set_title(f"{what}time ratio {cand} / {base} (< 1: {cand} faster)", fontsize="medium")
        ax.set_xlabel("elements")
        bar = fig.colorbar(mesh, ax=ax, ticks=edges, fraction=0.04, pad=0.02, extend="both")
        bar.ax.set_yticklabels([f"{e:.3g}" for e in edges], fontsize="x-small")
        bar.set_label(f"white: within ±{threshold:.0%}", fontsize="small")
    return _save(fig, out_dir, f"{path_stem}.png")


def plot_distributions(section: Section, out_dir: Path, point_keys: list[str]) -> Path:
    """Violins of the raw per-call samples of a few points, one panel per point, one violin per series.

    The y axis is each sample over its violin's median: series whose medians differ by 30% would otherwise
    squash every violin into a line, and the shape (spread, tail, a second mode) is what this plot is for;
    the medians are in the tick labels. The axis is logarithmic when a tail reaches 1.5x the median."""
    long = frames.samples_long(section.rows, point_keys)
    styles, colors = looks(section)
    points = list(dict.fromkeys(long["point"])) or ["(no timed points)"]
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(
            1, len(points), figsize=(3.4 * len(points), 4.0), squeeze=False
        )  # fmt: skip
    for ax, point in zip(axes[0], points, strict=True):
        sub = long[long["point"] == point]
        if len(sub):
            _violins(ax, sub, styles, colors)
        ax.set_title(point, fontsize="medium")
    axes[0][0].set_ylabel("sample / median of its violin")
    fig.suptitle(f"Raw samples over their median ({section.title})")
    return _save(fig, out_dir, f"{section.slug}-samples.png")


def _violins(ax: plt.Axes, sub: pd.DataFrame, styles: dict[str, Look], colors: dict[str, tuple]) -> None:
    order = list(dict.fromkeys(sub.sort_values(["backend", "series"])["series"]))
    medians = sub.groupby("series")["us"].median()
    runs = sub.groupby("series")["run_id"].nunique()
    data = [(sub.loc[sub["series"] == s, "us"] / medians[s]).to_numpy() for s in order]
    log = bool(max(d.max() for d in data) > 1.5 or min(d.min() for d in data) < 1 / 1.5)
    if log:
        ax.set_yscale("log")
    # matplotlib's violins (seaborn's cost 3x more); densities on a log axis are estimated in log space
    shown = [np.log10(d) for d in data] if log else data
    parts = ax.violinplot(shown, positions=range(len(order)), showextrema=False, widths=0.8, points=120,
                          quantiles=[[0.25, 0.5, 0.75]] * len(order))  # fmt: skip
    if log:
        for body in parts["bodies"]:
            for path in body.get_paths():
                path.vertices[:, 1] = 10 ** path.vertices[:, 1]
        lines = parts["cquantiles"]
        lines.set_segments([[(x, 10**y) for x, y in seg] for seg in lines.get_segments()])
    if log:  # the axis was scaled to the log10 values drawn first
        low, high = min(d.min() for d in data), max(d.max() for d in data)
        ax.set_ylim(low / (high / low) ** 0.05, high * (high / low) ** 0.05)
    for body, s in zip(parts["bodies"], order, strict=True):
        color = styles[s].color if s in styles else colors.get(s.split(" · ")[0], (0.55, 0.55, 0.55))
        body.set(facecolor=color, edgecolor="0.2", alpha=0.85, linewidth=0.8)
    parts["cquantiles"].set(color="0.1", linestyle=(0, (3, 2)), linewidth=0.9)
    ax.axhline(1.0, color="0.3", lw=0.8, zorder=0)
    if log:
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_plain))
        ax.yaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xticks(
        range(len(order)),
        [
            s.replace(" · ", "\n") + f"\n{medians[s]:.3g} µs\n{runs[s]} run" + ("s" if runs[s] > 1 else "")
            for s in order
        ],
        fontsize="small",
    )
    ax.set_xlim(-0.6, len(order) - 0.4)
