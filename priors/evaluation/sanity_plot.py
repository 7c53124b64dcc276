"""Plots of the sanity checks: similarity per randomized layer, and a grid of maps."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, List, Tuple

import matplotlib
import pandas as pd
from matplotlib.figure import Figure  # not pyplot: no backend switch, no global figures
from torch import Tensor

from .similarity import normalize_maps

TAB10 = matplotlib.colormaps["tab10"]
LABELS = {"spearman": "Spearman rank correlation", "spearman_abs": "Spearman (absolute values)",
          "ssim": "SSIM", "hog": "Pearson correlation of HOG"}


def plot_similarity(frame: pd.DataFrame, path: str | Path, title: str = "",
                    xlabel: str = "randomized down to layer (top layer first)") -> Path:
    """One panel per metric: similarity to the trained model's maps (mean +- se over
    examples) against the randomized layers, top layer first; one line per method."""
    path = Path(path)
    metrics = [m for m in LABELS if m in set(frame["metric"])]
    n_cols = min(2, len(metrics))
    n_rows = -(-len(metrics) // n_cols)
    fig = Figure(figsize=(6 * n_cols, 4.6 * n_rows))
    grid = fig.subplots(n_rows, n_cols, squeeze=False)
    axes = grid.reshape(1, -1)
    for ax in axes[0, len(metrics):]:
        ax.axis("off")
    steps = frame[["step", "layer"]].drop_duplicates().sort_values("step")
    if "layer_type" in frame:
        kinds = dict(zip(frame["layer"], frame["layer_type"].fillna("")))
        steps["layer"] = [f"{n} ({kinds[n]})" if kinds.get(n) else n for n in steps["layer"]]
    for ax, metric in zip(axes[0], metrics):
        sub = frame[frame["metric"] == metric]
        for i, (method, rows) in enumerate(sub.groupby("method", sort=False)):
            rows = rows.sort_values("step")
            ax.errorbar(rows["step"], rows["mean"], yerr=rows["se"].fillna(0), marker="o",
                        ms=4, capsize=2, label=method, color=TAB10(i % 10))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(steps["step"], steps["layer"], rotation=45, ha="right", fontsize=8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(LABELS[metric], fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("similarity to the trained model's map")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="lower left", framealpha=0.9)
    fig.suptitle(f"Sanity checks (Adebayo et al. 2018){': ' + title if title else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _show(ax, maps: Tensor, cmap: str = "gray") -> None:
    if maps.dim() == 4:
        img = normalize_maps(maps)[0, 0].cpu().numpy()
    else:  # tabular: |map| of the features as a strip
        v = maps.detach().abs().flatten(1)[0].double().cpu().numpy()
        img = (v / max(v.max(), 1e-300))[None, :]
    ax.imshow(img, cmap=cmap, vmin=0, vmax=1, aspect="equal" if maps.dim() == 4 else "auto")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_map_grid(maps: Dict[str, List[Tuple[str, Tensor]]], inputs: Tensor, path: str | Path,
                  title: str = "", columns: str = "randomized down to that layer") -> Path:
    """Rows = methods, columns = the input, then the original map and each randomized one
    (|pixel attribution|, the sum over channels, scaled to its maximum; white = most
    important)."""
    path = Path(path)
    methods = list(maps)
    n_cols = 1 + max(len(v) for v in maps.values())
    width = max(1.35 * n_cols + 0.8, 6.0)
    fig = Figure(figsize=(width, 1.45 * len(methods) + 1.1))
    axes = fig.subplots(len(methods), n_cols, squeeze=False)
    for r, method in enumerate(methods):
        ax = axes[r, 0]
        if inputs.dim() == 4:
            ax.imshow(inputs[0].mean(0).cpu().numpy(), cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            _show(ax, inputs[:1])
        ax.set_ylabel(method, fontsize=9, rotation=0, ha="right", va="center")
        if r == 0:
            ax.set_title("input", fontsize=8)
        for c, (layer, m) in enumerate(maps[method], start=1):
            _show(axes[r, c], m, "inferno")
            if r == 0:
                axes[r, c].set_title(layer, fontsize=8)
        for c in range(len(maps[method]) + 1, n_cols):
            axes[r, c].axis("off")
    note = textwrap.fill(f"|map summed over channels|, scaled to its maximum (bright = "
                         f"important); columns: {columns}", width=int(width * 14))
    fig.suptitle(f"{title or 'attribution maps'}\n{note}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
