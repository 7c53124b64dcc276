"""``summary.md`` of an evaluation: keep/remove areas per method, axiom tables, timings."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pandas as pd

from ..core.tables import markdown_table
from .keep_remove import KEEP_REMOVE

AXIOM_TITLES = {
    "completeness": "Completeness: sum of attributions vs f(x) - f(baseline)",
    "sensitivity": "Sensitivity: one-feature differences that change the output get attribution",
    "implementation_invariance": "Implementation invariance: network vs a copy with a hidden "
                                 "layer split into two ReLU halves",
    "xg_ig": "X-Gradient == Integrated Gradients (zero baseline) on X-DNNs",
}


def score_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Methods x metrics table of areas under the curves, with each method's rank per metric
    (1 = best, using each metric's direction) and the mean rank."""
    wide = scores.pivot(index="method", columns="metric", values="auc")
    metrics = [m for m in KEEP_REMOVE if m in wide.columns]
    wide = wide[metrics]
    ranks = pd.DataFrame({m: wide[m].rank(ascending=not KEEP_REMOVE[m].higher_is_better,
                                          method="min")
                          for m in metrics})
    out = pd.DataFrame(index=wide.index)
    for m in metrics:
        arrow = "↑" if KEEP_REMOVE[m].higher_is_better else "↓"
        out[f"{m.upper()} {arrow}"] = wide[m]
        out[f"{m.upper()} rank"] = ranks[m].astype(int)
    out["mean rank"] = ranks.mean(1)
    order = list(dict.fromkeys(scores["method"]))  # the configured method order
    return out.loc[order].reset_index()


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in frame.columns:
        if frame[col].dtype == bool:
            frame[col] = frame[col].map({True: "yes", False: "no"})
    return frame


def write_summary(path: str | Path, run, results: Dict[str, Any], split: str,
                  n_examples: int) -> Path:
    """Write the markdown summary of :func:`~priors.evaluation.run.evaluate_run`'s results."""
    path = Path(path)
    cfg = run.config
    metrics = run.result.get("metrics", {})
    prior = cfg.get("prior") or {}
    method = prior.get("method") or "none"
    prior_text = f"`{method}`"
    if method != "none":
        prior_text += f" (penalty {prior.get('penalty')}, weight {prior.get('weight')})"
    lines = [f"# Attribution evaluation of `{run.run_dir}`", "",
             f"- model: `{type(run.model).__name__}` ({cfg.model.get('_target_')}, "
             f"bias={cfg.model.get('bias', '-')}); data: `{cfg.data.get('_target_')}`; "
             f"prior: {prior_text}",
             f"- evaluated on {n_examples} `{split}` examples; task: {run.task}",
             "- run metrics: " + (", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())
                                            if k.startswith(("test/", "val/auroc_best")))
                                  or "none recorded")]
    for label, why in results.get("skipped", {}).items():
        lines.append(f"- method `{label}` skipped: {why}")
    if "scores" in results:
        lines += ["", "## Keep/remove-mask metrics (Lundberg et al. 2020)", "",
                  "Trapezoidal area under each curve over the fraction grid (KPM/KNM: mean "
                  "target logit; KAM/RAM: " + ("AUROC" if run.task == "binary" else "accuracy")
                  + "). ↑ higher is better, ↓ lower is better; rank 1 is best.", "",
                  markdown_table(score_table(results["scores"])), ""]
        for metric, png in results.get("plots", {}).items():
            lines.append(f"![{metric}]({png.name})")
    for name, frame in results.get("axioms", {}).items():
        lines += ["", f"## {AXIOM_TITLES.get(name, name)}", "", markdown_table(_readable(frame))]
    if "timing" in results:
        lines += ["", "## Wall time (seconds)", "", markdown_table(results["timing"])]
    path.write_text("\n".join(lines) + "\n")
    return path
