"""The report's figures as PNG files (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402

DPI = 110

# Pass-rate bands: almost every file passes fully, so a linear colour scale
# would paint 99% and 100% alike; bands keep "one command fails" visible.
RATE_BOUNDS = [0.0, 0.5, 0.8, 0.95, 0.99, 0.999999, 1.0]
RATE_COLORS = ["#b2182b", "#e34a33", "#fc8d59", "#fdbb63", "#fee08b", "#1a9850"]
RATE_LABELS = ["< 50%", "50-80%", "80-95%", "95-99%", "99-<100%", "100%"]
EMPTY_COLOR = "#e8e8e8"

STATUS_COLORS = {
    "pass": "#1a9850", "wrong_result": "#d73027", "wrong_trap": "#f46d43", "trace_divergence": "#a50026",
    "tie_break": "#762a83", "nondeterministic": "#e7298a", "config_divergence": "#c51b7d",
    "unsupported": "#878787", "step_limit": "#4575b4", "harness_error": "#000000", "flaky": "#fdae61",
}


def rate_color(passed: int, total: int) -> str:
    """The heat-map colour of passed/total (EMPTY_COLOR when nothing ran)."""
    if total <= 0:
        return EMPTY_COLOR
    rate = passed / total
    for upper, color in zip(RATE_BOUNDS[1:], RATE_COLORS):
        if rate < upper:
            return color
    return RATE_COLORS[-1]


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def heatmap(passed: pd.DataFrame, total: pd.DataFrame, path: Path, *, rows_per_panel: int = 52) -> Path:
    """Files x configs pass-rate heat map, the file list cut into side-by-side panels."""
    files, configs = list(total.index), list(total.columns)
    rate = np.where(total.to_numpy() > 0, passed.to_numpy() / np.maximum(total.to_numpy(), 1), np.nan)
    n_panels = max(1, math.ceil(len(files) / rows_per_panel))
    per = math.ceil(len(files) / n_panels) if files else 1
    cmap = ListedColormap(RATE_COLORS).with_extremes(bad=EMPTY_COLOR)
    norm = BoundaryNorm(RATE_BOUNDS, cmap.N)
    width = n_panels * (1.9 + 0.28 * len(configs))
    height = 0.125 * per + 1.3
    # fixed margins in inches (file names on the left, config names on top): tight_layout is slow with 257 labels
    fig, axes = plt.subplots(1, n_panels, figsize=(max(width, 4), height), squeeze=False,
                             gridspec_kw=dict(left=1.45 / max(width, 4), right=0.99, top=1 - 0.95 / height,
                                              bottom=0.35 / height, wspace=1.55 / (0.28 * max(len(configs), 1))))
    for k, ax in enumerate(axes[0]):
        chunk = slice(k * per, (k + 1) * per)
        block = np.ma.masked_invalid(rate[chunk])
        ax.imshow(block, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(block.shape[0]), [f.removesuffix(".wast") for f in files[chunk]], fontsize=6)
        ax.set_xticks(range(len(configs)), configs, fontsize=6.5, rotation=90)
        ax.xaxis.tick_top()
        ax.tick_params(length=0, pad=1)
        for spine in ax.spines.values():
            spine.set_visible(False)
        # cell borders as two line collections (minor ticks cost a Tick object per line)
        n_rows = block.shape[0]
        ax.hlines(np.arange(-0.5, n_rows), -0.5, len(configs) - 0.5, color="white", linewidth=0.4)
        ax.vlines(np.arange(-0.5, len(configs)), -0.5, n_rows - 0.5, color="white", linewidth=0.4)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in RATE_COLORS[::-1]] + [
        plt.Rectangle((0, 0), 1, 1, color=EMPTY_COLOR)]
    fig.legend(handles, RATE_LABELS[::-1] + ["not run"], loc="lower center", ncol=len(handles), fontsize=7,
               frameon=False, bbox_to_anchor=(0.5, -0.01))
    return _save(fig, path)


def margin_histogram(margins: pd.DataFrame, path: Path, *, threshold: float) -> Path:
    """Histogram of log10(min attention margin) per dtype, the tie threshold marked, exact ties in a bar of their own."""
    fig, ax = plt.subplots(figsize=(6.2, 3.0))
    values = margins["log10_margin"].to_numpy()
    finite = values[np.isfinite(values)]
    t = math.log10(threshold)
    lo = math.floor(min(finite.min(initial=t), t)) - 1
    hi = max(math.ceil(finite.max(initial=t)), lo + 2)
    width = (hi - lo) / 60
    bins = np.linspace(lo, hi, 61)
    tie_x = lo - 2 * width  # exact ties (margin 0) have no logarithm: a bar left of the axis's range
    for dtype, part in margins.groupby("dtype", sort=True):
        v = part["log10_margin"].to_numpy()
        ties = int(np.isneginf(v).sum())
        patches = ax.hist(v[np.isfinite(v)], bins=bins, histtype="stepfilled", alpha=0.45,
                          label=f"{dtype} (n={len(part)}" + (f", {ties} exact ties)" if ties else ")"))[2]
        color = patches[0].get_facecolor()[:3] if len(patches) else None
        if ties:
            ax.bar(tie_x, ties, width=width * 1.5, color=color, alpha=0.8)
    ax.axvline(t, color="#a50026", linestyle="--", linewidth=1)
    ax.text(t, 1.0, f" tie threshold {threshold:g} eps", color="#a50026", fontsize=7, va="top",
            transform=ax.get_xaxis_transform())
    if np.isneginf(values).any():
        ticks = [x for x in ax.get_xticks() if lo + 3 * width < x <= hi]
        ax.set_xticks([tie_x] + ticks, ["=0"] + [f"{x:g}" for x in ticks])
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 30)  # headroom for the legend
    ax.set_xlabel("log10(minimum relative attention margin per command, in eps of the dtype)")
    ax.set_ylabel("commands")
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def horizon_ecdf(horizon: pd.DataFrame, order: list[str], path: Path) -> Path:
    """ECDF per config of the step at which a command first left the reference trace."""
    fig, ax = plt.subplots(figsize=(6.2, 3.0))
    steps = horizon["div_step"].to_numpy()
    for label in [lb for lb in order if lb in set(horizon["label"])]:
        part = np.sort(horizon.loc[horizon["label"] == label, "div_step"].to_numpy())
        y = np.arange(1, len(part) + 1)
        ax.step(np.r_[part[:1], part], np.r_[0, y], where="post", label=f"{label} (n={len(part)})")
    if steps.max() > 0 and steps.max() / max(steps[steps > 0].min(initial=1), 1) > 100:
        ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("first divergent step (trace record index)")
    ax.set_ylabel("commands diverged by then")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def history_plot(history: pd.DataFrame, order: list[str], path: Path) -> Path:
    """Pass rate per config over runs."""
    fig, ax = plt.subplots(figsize=(6.2, 3.0))
    h = history.assign(rate=100.0 * history["passed"] / history["total"].clip(lower=1))
    known = [lb for lb in order if lb in set(h["label"])]
    for label in known + sorted(set(h["label"]) - set(known)):
        part = h[h["label"] == label].sort_values("timestamp")
        ax.plot(part["timestamp"], part["rate"], marker="o", markersize=3.5, linewidth=1.2, label=label)
    lo = float(h["rate"].min())
    ax.set_ylim(max(0.0, lo - max(0.5, (100 - lo) * 0.2)), 100.0 + max(0.1, (100 - lo) * 0.05))
    ax.set_ylabel("pass rate (%)")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _save(fig, path)
