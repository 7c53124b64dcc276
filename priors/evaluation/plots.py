"""PNG plots of keep/remove curves: one figure per metric, one line per method."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import pandas as pd

from ..runs.atomic import save_figure
from .keep_remove import KEEP_REMOVE

Y_LABELS = {"output": "mean target logit", "binary": "AUROC", "multiclass": "accuracy"}


def plot_curves(curves: pd.DataFrame, scores: pd.DataFrame, out_dir: str | Path,
                task: str = "binary", title: Optional[str] = None) -> Dict[str, Path]:
    """Write ``<metric>.png`` for every metric in ``curves`` (columns ``metric, method,
    fraction, value``); the legend gives each method's area under the curve from ``scores``.
    Returns ``{metric: path}``."""
    from matplotlib.figure import Figure  # not pyplot: no backend switch, no global figures

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for metric, group in curves.groupby("metric", sort=False):
        spec = KEEP_REMOVE[metric]
        fig = Figure(figsize=(7, 4.5), dpi=120)
        ax = fig.subplots()
        area = scores[scores["metric"] == metric].set_index("method")["auc"]
        for i, (method, line) in enumerate(group.groupby("method", sort=False)):
            # Line styles and markers vary too: methods with equal curves (XG and IG on an
            # X-DNN) stay distinguishable.
            ax.plot(line["fraction"], line["value"], marker="os^vDx*"[i % 7], markersize=3.5,
                    linestyle=("-", "--", ":", "-.")[i % 4], linewidth=1.4,
                    label=f"{method} (AUC {area.get(method, float('nan')):.4g})")
        ax.set_xscale("log")
        ax.set_xlabel("fraction of features " + ("kept" if spec.keep else "removed")
                      + " (log scale)")
        ax.set_ylabel(Y_LABELS["output" if spec.score == "output" else task])
        better = "higher" if spec.higher_is_better else "lower"
        ax.set_title(f"{spec.title} ({metric.upper()}): {better} is better"
                     + (f"\n{title}" if title else ""), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="best", title="method (trapezoidal AUC)", title_fontsize=8)
        fig.tight_layout()
        paths[metric] = out_dir / f"{metric}.png"
        save_figure(fig, paths[metric])
    return paths
