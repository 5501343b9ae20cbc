"""The report's plots, one function each; every function saves one PNG and returns its path.

Inputs are frames already carrying `side`/`series` (bench.report.frames.with_series); each function
aggregates before drawing, so the cost depends on the number of curves, not on the number of rows.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window, also on CI machines without a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from bench.report import frames

DPI = 110


def _save(fig: plt.Figure, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _palette(values: list[str]) -> dict[str, tuple]:
    return dict(zip(values, sns.color_palette("colorblind", max(len(values), 1)), strict=False))


def plot_time_vs_numel(df: pd.DataFrame, out_dir: Path, name: str = "time_vs_numel.png") -> Path:
    """Median time per call vs elements, one panel per mode, hue precision, line style series (log-log);
    the shaded band runs from the fastest sample (min_us) to p99 of the slowest row."""
    curves = frames.time_curves(df)
    modes = sorted(curves["mode"].unique()) or ["(none)"]
    precisions = sorted(curves["precision"].unique())
    palette = _palette(precisions)
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(modes), figsize=(5.2 * len(modes), 4.2), sharey=True, squeeze=False)
    for ax, mode in zip(axes[0], modes, strict=True):
        sub = curves[curves["mode"] == mode]
        if len(sub):
            sns.lineplot(
                data=sub, x="numel", y="median_us", hue="precision", style="series", palette=palette,
                markers=True, errorbar=None, ax=ax, legend=ax is axes[0][-1],
            )  # fmt: skip
            for (prec, _), g in sub.groupby(["precision", "series"]):
                ax.fill_between(g["numel"], g["low_us"], g["high_us"], color=palette[prec], alpha=0.15, lw=0)
        ax.set(xscale="log", yscale="log", title=f"mode: {mode}", xlabel="elements (numel)")
        ax.set_ylabel("median time per call (µs)")
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle("Time per call vs tensor size (band: min to p99 of samples)")
    return _save(fig, out_dir, name)


def plot_bandwidth(df: pd.DataFrame, out_dir: Path, name: str = "bandwidth.png") -> Path:
    """Achieved GB/s vs elements, one panel per precision, hue series, style mode; memcpy of the same
    bytes drawn as a black dashed roofline per side."""
    bw = frames.bandwidth_curves(df)
    roof = frames.roofline(bw)
    kernels = bw[bw["backend"] != frames.MEMCPY]
    precisions = sorted(bw["precision"].unique()) or ["(none)"]
    palette = _palette(sorted(kernels["series"].unique()))
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(precisions), figsize=(5.2 * len(precisions), 4.2), squeeze=False)
    for ax, prec in zip(axes[0], precisions, strict=True):
        sub = kernels[kernels["precision"] == prec]
        if len(sub):
            sns.lineplot(
                data=sub, x="numel", y="gbps", hue="series", style="mode", palette=palette,
                markers=True, errorbar=None, ax=ax, legend=ax is axes[0][-1],
            )  # fmt: skip
        dashes = ["--", ":", "-.", (0, (5, 1))]
        for i, (side, g) in enumerate(roof[roof["precision"] == prec].groupby("side")):
            label = "memcpy roofline" + ("" if side == "all" else f" ({side})")
            ax.plot(g["numel"], g["gbps"], color="black", ls=dashes[i % len(dashes)], lw=1.6, label=label)
        ax.set(xscale="log", title=f"precision: {prec}", xlabel="elements (numel)", ylabel="achieved bandwidth (GB/s)")
        if ax is axes[0][-1]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
    fig.suptitle("Achieved bandwidth (bytes read + written / median time) vs the memcpy roofline")
    return _save(fig, out_dir, name)


def plot_speedup_heatmap(matrix: pd.DataFrame, out_dir: Path, base_label: str, name: str = "speedup.png") -> Path:
    """Points (or groups) x sides, colour log2 of the speedup over `base_label`, centred at 1x; cells
    carry the speedup itself. Blue is faster than base, red slower."""
    logs = np.log2(matrix.astype(float))
    span = float(np.nanmax(np.abs(logs.to_numpy()))) if logs.size and np.isfinite(logs.to_numpy()).any() else 1.0
    span = max(span, 0.1)
    annot = matrix.map(lambda v: f"{v:.2f}×" if np.isfinite(v) else "")
    height = 1.2 + 0.28 * max(len(matrix), 1)
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * max(len(matrix.columns), 1) + 3.5, height))
    with warnings.catch_warnings():  # seaborn 0.13 calls a colormap method matplotlib plans to deprecate
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        _heatmap(logs, annot, span, base_label, ax)
    ax.set(xlabel="side (speedup = base median / side median)", ylabel="point (group: geometric mean)")
    ax.set_title(f"Speedup over {base_label}")
    return _save(fig, out_dir, name)


def _heatmap(logs: pd.DataFrame, annot: pd.DataFrame, span: float, base_label: str, ax: plt.Axes) -> None:
    sns.heatmap(
        logs, cmap="RdBu", center=0.0, vmin=-span, vmax=span, annot=annot, fmt="", ax=ax,
        cbar_kws={"label": f"log2 speedup over {base_label} (0 = same)"}, linewidths=0.5,
    )  # fmt: skip


def plot_distributions(
    df: pd.DataFrame, out_dir: Path, point_keys: list[str] | None = None, name: str = "samples.png"
) -> Path:
    """Violins of the raw per-call samples of a few points, one panel each (times differ by orders of
    magnitude between points), one violin per series."""
    keys = point_keys or frames.representative_points(df)
    long = frames.samples_long(df, keys)
    long["series"] = long["series"].astype(str).str.replace(" · ", "\n")  # long GPU names: two lines
    points = list(dict.fromkeys(long["point"])) or ["(no timed points)"]
    palette = _palette(sorted(long["series"].unique()))
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(points), figsize=(4.0 * len(points), 4.0), squeeze=False)
    for ax, point in zip(axes[0], points, strict=True):
        sub = long[long["point"] == point]
        if len(sub):
            sns.violinplot(
                data=sub, x="series", y="us", hue="series", palette=palette, cut=0, inner="quartile",
                density_norm="width", ax=ax, legend=False,
            )  # fmt: skip
        ax.set(title=point, xlabel="", ylabel="time per call (µs)")
        ax.tick_params(axis="x", labelsize="small")
    fig.suptitle("Distribution of raw samples (quartiles marked)")
    return _save(fig, out_dir, name)
