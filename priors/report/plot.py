"""PNG of a sweep summary table: the reported metric against the prior weight, per method."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # not pyplot: no backend switch, no global figures

from .table import BASELINE, _sort_key

# Up to this many distinct weights the axis is categorical (evenly spaced weights, methods side
# by side at each); a log axis over one or two weights draws overlapping tick labels.
MAX_CATEGORICAL = 5


def plot_table(table: pd.DataFrame, path: str | Path, metric: str = "test/auroc") -> Path:
    """One panel per variant: mean +- SE error bars of ``metric`` over the prior weight per
    method (circled: the weight chosen on validation), the unregularized mean as a horizontal
    line with its SE band. With few distinct weights the axis lists them evenly spaced and the
    methods stand side by side at each; with more it is logarithmic."""
    path = Path(path)
    table_figure(table, metric).savefig(path, dpi=120)
    return path


def table_figure(table: pd.DataFrame, metric: str = "test/auroc") -> Figure:
    """The figure :func:`plot_table` saves."""
    panels = list(table.groupby("variant", dropna=False))
    fig = Figure(figsize=(6.4 * len(panels), 4.6))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (variant, group) in zip(axes[0], panels):
        _panel(ax, group, metric)
        models = sorted(set(group["model"].astype(str)))
        title = f"{metric} by prior weight ({', '.join(models)})"
        if variant != "-":
            title += "\n" + textwrap.shorten(str(variant), 90)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _panel(ax, group: pd.DataFrame, metric: str) -> None:
    se_col = f"{metric} se"
    for _, row in group[group["method"] == BASELINE].iterrows():
        mean, se = row[metric], row.get(se_col, np.nan)
        ax.axhline(mean, color="k", lw=1, label=f"{BASELINE} (no prior)")
        if np.isfinite(se):
            ax.axhspan(mean - se, mean + se, color="k", alpha=0.1)
    priors = group[group["method"] != BASELINE]
    methods = sorted(priors.groupby(["method", "penalty"], dropna=False),
                     key=lambda item: (_sort_key(item[0][0]), str(item[0][1])))
    weights = sorted(w for w in priors["weight"].dropna().unique())
    categorical = len(weights) <= MAX_CATEGORICAL
    n = max(len(methods), 1)
    for i, ((method, penalty), rows) in enumerate(methods):
        rows = rows.sort_values("weight")
        if categorical:
            # Methods side by side around each weight's slot (a width of 0.6 per slot).
            x = rows["weight"].map({w: k for k, w in enumerate(weights)}) + (i - (n - 1) / 2) * 0.6 / n
        else:
            span = weights[-1] / weights[0] if weights[0] > 0 else 10.0
            x = rows["weight"] * (span ** (0.012 * (i - (n - 1) / 2)))  # a small log shift
        ax.errorbar(x, rows[metric], yerr=rows.get(se_col), marker="o", capsize=3,
                    ls="-" if len(rows) > 1 else "none", label=f"{method} + {penalty}")
        chosen = rows["selected"].astype(bool)
        ax.scatter(x[chosen], rows.loc[chosen, metric], s=130, facecolors="none",
                   edgecolors="k", zorder=3)
    if categorical:
        ax.set_xticks(range(len(weights)), [f"{w:g}" for w in weights])
        ax.set_xlim(-0.6, len(weights) - 0.4)
    else:
        ax.set_xscale("log")
    ax.set_xlabel("prior weight (circled: chosen on validation)")
    ax.set_ylabel(f"{metric} (mean ± SE over seeds)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
