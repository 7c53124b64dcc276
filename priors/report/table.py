"""The summary table of a sweep: one row per setting (variant x model x method x penalty x
weight) with, over seeds, mean +- standard error of the test metric, the weight chosen by the
mean validation metric (as Erion et al., Nature MI 2021, chose theirs), a paired t-test against
the unregularized runs with the same seeds (``scipy.stats.ttest_rel``), the mean prior-cost
ratio of :class:`~priors.callbacks.PriorCostMonitor` and extra metrics such as the attribution
share on irrelevant features. Also the baseline's name and the method sort order, which the
plot shares.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..core.stats import standard_error

BASELINE = "none"
# Job states counted as "unfinished": killed or stopped runs, and planned jobs never started.
UNFINISHED = ("unfinished", "interrupted", "not started", "unreadable")
# Evaluation areas (evaluate.py's evaluation/scores.csv) become columns eval/<metric>/<method>.
EVAL_PREFIX = "eval/"
# Per-setting means (and standard errors) of these metrics are added when present.
EXTRA_METRICS = ("prior_cost/mean_ratio", "attr_share/irrelevant", "attr_share/irrelevant_uniform",
                 "best_step", "attr_share/mask_ixg", "attr_share/mask_grad_cam",
                 "attr_share/mask_uniform")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index, dtype=float)


def summarize(jobs: pd.DataFrame, metric: str = "test/auroc",
              select: str = "val/auroc_best") -> pd.DataFrame:
    """Per setting: ``n``, mean +- SE of ``metric``, paired t-test vs ``none``, chosen weight."""
    for name in (metric, select):
        if jobs["status"].eq("ok").any() and name not in jobs.columns:
            raise KeyError(f"metric {name!r} is in no result.json; metrics: "
                           f"{sorted(c for c in jobs.columns if '/' in c and ':' not in c)}")
    keys = ["variant", "model", "method", "penalty", "weight"]
    # Jobs that never started have no config: counted in the report's text, not in a row.
    jobs = jobs[jobs["status"] != "not started"]
    ok = jobs[jobs["status"] == "ok"]
    rows = []
    for key, everything in jobs.groupby(keys, dropna=False):
        variant, model, method = key[:3]
        group = everything[everything["status"] == "ok"]
        status = everything["status"].value_counts()
        # n: the values behind the mean (a NaN metric of an ok job is not one of them).
        row = dict(zip(keys, key), n=int(_col(group, metric).notna().sum()),
                   failed=int(status.get("failed", 0)),
                   unfinished=int(sum(status.get(s, 0) for s in UNFINISHED)),
                   **{select: _col(group, select).mean(), metric: _col(group, metric).mean(),
                      f"{metric} se": standard_error(_col(group, metric)), "seconds": group["seconds"].mean()})
        row.update(_paired(group, ok, variant, model, method, metric))
        evaluated = [c for c in group.columns if c.startswith(EVAL_PREFIX)]
        for extra in (*EXTRA_METRICS, *evaluated):
            if extra in group.columns and group[extra].notna().any():
                row[extra] = group[extra].mean()
                row[f"{extra} se"] = standard_error(group[extra])
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # The papers' protocol: per method, the weight with the best mean validation score.
    table["selected"] = False
    for _, group in table.groupby(["variant", "model", "method", "penalty"], dropna=False):
        if group[select].notna().any():
            table.loc[group[select].idxmax(), "selected"] = True
    base = table["method"] == BASELINE
    table.loc[base, "selected"] = True
    order = sorted(range(len(table)), key=lambda i: (
        str(table["variant"].iat[i]), _sort_key(table["method"].iat[i]),
        str(table["penalty"].iat[i]), np.nan_to_num(table["weight"].iat[i], nan=-1.0)))
    return table.iloc[order].reset_index(drop=True)


def _sort_key(value):
    """``none`` first, then methods by name, ``eg(k=...)`` by k numerically."""
    if not isinstance(value, str):
        return value
    if value == BASELINE:
        return (0, "", 0.0)
    name, _, arg = value.partition("(")
    try:
        number = float(arg.split("=")[-1].rstrip(")")) if arg else 0.0
    except ValueError:
        number = 0.0
    return (1, name, number)


def _paired(group: pd.DataFrame, ok: pd.DataFrame, variant, model, method, metric) -> dict:
    """Paired t-test of ``metric`` against the baseline runs of the same variant and seeds."""
    out = {"baseline model": "", "n pairs": 0, "baseline on pairs": np.nan, "delta": np.nan,
           "delta se": np.nan, "t": np.nan, "p (paired t)": np.nan}
    if method == BASELINE:
        return out
    base = ok[(ok["variant"] == variant) & (ok["method"] == BASELINE)]
    # Prefer the baseline on the same architecture (identical initial weights per seed).
    same = base[base["model"] == model]
    base = same if len(same) else base
    if base.empty:
        return out
    b = base.groupby("seed")[metric].mean()
    a = group.groupby("seed")[metric].mean()
    seeds = a.index.intersection(b.index)
    diff = a[seeds] - b[seeds]
    out.update({"baseline model": ", ".join(sorted(base["model"].unique())), "n pairs": len(seeds),
                "baseline on pairs": b[seeds].mean() if len(seeds) else np.nan,
                "delta": diff.mean() if len(seeds) else np.nan, "delta se": standard_error(diff)})
    if len(seeds) > 1:
        res = stats.ttest_rel(a[seeds], b[seeds])
        out.update({"t": float(res.statistic), "p (paired t)": float(res.pvalue)})
    return out


def display_table(table: pd.DataFrame, metric: str = "test/auroc",
                  select: str = "val/auroc_best") -> pd.DataFrame:
    """The summary table with ``mean +- se`` columns, as printed and written to ``table.md``."""
    def pm(row, name, digits=4):
        mean, se = row.get(name, np.nan), row.get(f"{name} se", np.nan)
        if mean is None or (isinstance(mean, float) and math.isnan(mean)):
            return "-"
        return f"{mean:.{digits}f}" + ("" if math.isnan(se) else f" ± {se:.{digits}f}")

    out = table[["variant", "model", "method", "penalty", "weight", "n"]].copy()
    out[f"{metric} (mean ± se)"] = [pm(r, metric) for _, r in table.iterrows()]
    out[f"{select} (mean)"] = table[select]
    out["selected"] = table["selected"]
    # The baseline's mean over the paired seeds: rows with fewer seeds compare to this, not to
    # the baseline row's own mean.
    out[f"{BASELINE} on same seeds"] = table["baseline on pairs"]
    out[f"Δ vs {BASELINE}"] = [pm(r, "delta") for _, r in table.iterrows()]
    out["p (paired t)"] = table["p (paired t)"]
    out["n pairs"] = table["n pairs"]
    if "prior_cost/mean_ratio" in table.columns:
        out["prior cost ratio"] = table["prior_cost/mean_ratio"]
    out["s / job"] = table["seconds"]
    if "attr_share/irrelevant" in table.columns:
        out["irrelevant attr. share"] = [pm(r, "attr_share/irrelevant", 3)
                                          for _, r in table.iterrows()]
    for col in table.columns:  # attribution-evaluation areas (evaluate.py), means over seeds
        if col.startswith(EVAL_PREFIX) and not col.endswith(" se"):
            out[col] = table[col]
    out["failed"] = table["failed"]
    out["unfinished"] = table["unfinished"]
    for col in ("variant", "model", "penalty"):
        if out[col].nunique() == 1:
            out = out.drop(columns=col)
    return out


def problems(jobs: pd.DataFrame) -> pd.DataFrame:
    """Failed and unfinished jobs with their overrides and last error line."""
    bad = jobs[jobs["status"] != "ok"]
    return bad[["status", "job", "overrides", "error"]].reset_index(drop=True)
