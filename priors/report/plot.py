"""PNG of a sweep summary table: the reported metric against the prior weight, per method."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed on clusters or in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .table import BASELINE, _sort_key  # noqa: E402


def plot_table(table: pd.DataFrame, path: str | Path, metric: str = "test/auroc") -> Path:
    """One panel per (variant, model of the priors): mean +- SE error bars over the weight (log
    axis) per method, the unregularized mean as a horizontal line with its SE band; methods
    swept at a single weight (e.g. an EG k-sweep) appear as single points."""
    path = Path(path)
    panels = list(table.groupby("variant", dropna=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (variant, group) in zip(axes[0], panels):
        base = group[group["method"] == BASELINE]
        for _, row in base.iterrows():
            mean, se = row[metric], row.get(f"{metric} se", np.nan)
            ax.axhline(mean, color="k", lw=1, label=f"{BASELINE} ({row['model']})")
            if np.isfinite(se):
                ax.axhspan(mean - se, mean + se, color="k", alpha=0.1)
        methods = group[group["method"] != BASELINE].groupby(["method", "penalty"], dropna=False)
        ordered = sorted(methods, key=lambda item: (_sort_key(item[0][0]), str(item[0][1])))
        for i, ((method, penalty), rows) in enumerate(ordered):
            rows = rows.sort_values("weight")
            # A small per-method shift keeps methods swept at the same weights apart.
            shifted = rows["weight"] * 1.04 ** i
            ax.errorbar(shifted, rows[metric], yerr=rows[f"{metric} se"], marker="o",
                        capsize=3, label=f"{method} {penalty}")
            chosen = rows[rows["selected"]]
            ax.scatter(shifted[rows["selected"]], chosen[metric], s=120, facecolors="none",
                       edgecolors="k", zorder=3)
        ax.set_xscale("log")
        ax.set_xlabel("prior weight (circled: chosen on validation)")
        ax.set_ylabel(f"{metric} (mean ± SE over seeds)")
        ax.set_title(str(variant) if variant != "-" else "sweep", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
