"""Figures of attributions: an image grid (input, attribution, mask) and a tabular bar chart.

Used by :class:`~priors.callbacks.AttributionMaps`; plain functions returning matplotlib figures
so that notebooks can call them too.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from matplotlib.figure import Figure  # not pyplot: no GUI backend, no global figure registry
from matplotlib.patches import Patch

__all__ = ["image_grid", "feature_bars"]


def _display_image(x: np.ndarray) -> tuple[np.ndarray, Optional[str]]:
    """(H, W) or (H, W, 3) in [0, 1] for imshow, and the colormap for one channel."""
    x = x.astype(np.float64)
    lo, hi = float(x.min()), float(x.max())
    x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)  # normalized inputs: per image
    if x.shape[0] == 1:
        return x[0], "gray"
    return np.transpose(x[:3], (1, 2, 0)), None


def image_grid(
    inputs: np.ndarray,
    attributions: np.ndarray,
    masks: Optional[np.ndarray] = None,
    captions: Optional[Sequence[str]] = None,
    title: str = "",
) -> Figure:
    """One column per example: the input, its signed attribution, and the annotation mask.

    ``inputs`` / ``attributions`` / ``masks``: ``(N, C, H, W)``. Attributions are summed over
    channels and shown red (positive) / blue (negative) on a symmetric scale per image; the mask
    outline (where there is a mask) is drawn in green on the input and the attribution, so one
    sees at a glance whether attribution falls inside it.
    """
    n = len(inputs)
    rows = 3 if masks is not None else 2
    fig = Figure(figsize=(1.7 * n + 0.8, 1.8 * rows + 0.9))
    axes = fig.subplots(rows, n, squeeze=False)
    for i in range(n):
        img, cmap = _display_image(inputs[i])
        attr = attributions[i].sum(0)
        vmax = float(np.abs(attr).max()) or 1.0
        outline = masks[i].max(0) if masks is not None else None
        axes[0, i].imshow(img, cmap=cmap, vmin=0, vmax=1)
        axes[1, i].imshow(attr, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        if masks is not None:
            axes[2, i].imshow(outline, cmap="Greens", vmin=0, vmax=1)
            if outline.any():
                # Padded by one pixel so that a mask touching the border gets a closed outline
                # (the 0.5 level then runs exactly along the pixel edges).
                h, w = outline.shape
                padded = np.pad(outline, 1)
                for ax in axes[:2, i]:
                    ax.contour(np.arange(-1, w + 1), np.arange(-1, h + 1), padded, levels=[0.5],
                               colors="lime", linewidths=1.5)
                    ax.set_xlim(-0.5, w - 0.5)
                    ax.set_ylim(h - 0.5, -0.5)
        if captions is not None:
            axes[0, i].set_title(captions[i], fontsize=9)
    labels = ["input", "attribution\n(red +, blue -)", "annotation\nmask"]
    for r in range(rows):
        axes[r, 0].set_ylabel(labels[r], fontsize=10)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def feature_bars(
    mean_abs: np.ndarray,
    names: Optional[Sequence[str]] = None,
    title: str = "",
    max_features: int = 40,
    highlight: Optional[np.ndarray] = None,
    highlight_label: str = "marked features",
) -> Figure:
    """Horizontal bars of mean |attribution| per feature (the ``max_features`` largest, in
    decreasing order); ``highlight`` (bool per feature) colours a group, e.g. irrelevant ones."""
    mean_abs = np.asarray(mean_abs, dtype=np.float64)
    names = list(names) if names is not None else [f"x{i}" for i in range(len(mean_abs))]
    order = np.argsort(-mean_abs, kind="stable")[:max_features]
    height = 0.28 * len(order) + 1.6
    fig = Figure(figsize=(7.5, height))
    ax = fig.subplots()
    colors = np.array(["tab:blue"] * len(mean_abs), dtype=object)
    if highlight is not None and np.any(highlight):
        colors[np.asarray(highlight, dtype=bool)] = "tab:orange"
    ax.barh(np.arange(len(order)), mean_abs[order], color=list(colors[order]))
    ax.set_yticks(np.arange(len(order)), [names[j] for j in order], fontsize=8)
    ax.invert_yaxis()  # largest on top
    ax.set_xlabel("mean |attribution|")
    ax.set_ylabel("feature")
    if highlight is not None and np.any(highlight):
        ax.legend(handles=[Patch(color="tab:blue", label="other features"),
                           Patch(color="tab:orange", label=highlight_label)], loc="lower right")
    shown = "" if len(order) == len(mean_abs) else f" (top {len(order)} of {len(mean_abs)})"
    ax.set_title(title + shown, fontsize=10)
    fig.tight_layout()
    return fig
