"""Result tables from Hydra multiruns: ``python -m priors.report multirun/<time> [more dirs]``.

Every job directory (one with a ``.hydra/`` folder) becomes one row of a jobs table (its config
and the final metrics of its ``result.json``); jobs that failed or never finished are listed,
never dropped. The summary table has one row per setting (variant x model x method x penalty x
weight) with, over seeds, mean +- standard error of the test metric, the weight chosen by the
mean validation metric (as Erion et al., Nature MI 2021, chose theirs), a paired t-test against
the unregularized runs with the same seeds (``scipy.stats.ttest_rel``), the mean prior-cost
ratio of :class:`~priors.callbacks.PriorCostMonitor` and extra metrics such as the attribution
share on irrelevant features. Jobs evaluated by ``evaluate.py`` add the areas under their
keep/remove curves (``<job>/evaluation/scores.csv``) as ``eval/<metric>/<method>`` columns.
Written: ``jobs.csv``, ``table.csv``, ``table.md``, ``table.png``.
"""
from __future__ import annotations

import argparse
import inspect
import math
import sys
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .attributions import get_method
from .report_jobs import EVAL_PREFIX, _flatten, _read_job, find_jobs  # noqa: F401
from .prior import Prior

BASELINE = "none"
# Config keys that never define a setting: the seed and what follows from it, output paths,
# logging, thread counts, and callbacks that only observe the run.
IGNORED = ("seed", "data.seed", "paths.", "logger.", "hydra.", "trainer.default_root_dir",
           "trainer.enable_progress_bar", "trainer.enable_model_summary",
           "trainer.log_every_n_steps", "callbacks.attribution_share.", "callbacks.prior_cost.",
           "test", "optimized_metric", "threads", "prior.", "model.")
# Per-setting means (and standard errors) of these metrics are added when present.
EXTRA_METRICS = ("prior_cost/mean_ratio", "attr_share/irrelevant", "attr_share/irrelevant_uniform",
                 "best_step", "attr_share/mask_ixg", "attr_share/mask_grad_cam",
                 "attr_share/mask_uniform")


def _method_label(prior: Optional[dict]) -> str:
    """``method`` plus every setting of the job's prior that can tell runs apart: the method's
    hyperparameters as configured (``eg(k=1)``) and other ``prior.*`` keys that differ from
    :class:`~priors.Prior`'s defaults (``xg(target=pred)``)."""
    prior = prior or {}
    method = prior.get("method") or BASELINE
    if method == BASELINE:
        return BASELINE
    try:
        hparams, known = get_method(method).hparams, True
    except ValueError:  # an explanation loss, or a method this installation does not know
        from .losses.registry import get_loss, is_loss
        hparams, known = (dict(get_loss(method).hparams), True) if is_loss(method) else ({}, False)
    defaults = {k: p.default for k, p in inspect.signature(Prior).parameters.items()}
    parts = []
    for key, value in prior.items():
        if key in ("_target_", "method", "penalty", "weight"):
            continue
        if key in defaults:
            if value != defaults[key]:
                parts.append(f"{key}={value}")
        elif key in hparams or not known:  # (old runs stored k for every method: not its own)
            parts.append(f"{key}={value}")
    return f"{method}({', '.join(parts)})" if parts else str(method)


def _model_label(model: dict) -> str:
    name = str(model.get("_target_", "?")).rsplit(".", 1)[-1]
    return f"{name}(bias=False)" if model.get("bias") is False else name


def collect(dirs: Iterable[str | Path]) -> pd.DataFrame:
    """One row per job: status, setting columns, ``seed``, every metric, seconds, error."""
    rows = []
    for info in map(_read_job, find_jobs(dirs)):
        cfg = info["config"]
        prior = cfg.get("prior") or {}
        method = _method_label(prior)
        row = {"job": info["job"], "status": info["status"],
               "model": _model_label(cfg.get("model") or {}),
               "method": method, "penalty": prior.get("penalty") if method != BASELINE else "-",
               "weight": float(prior.get("weight", np.nan)) if method != BASELINE else np.nan,
               "seed": cfg.get("seed"), "seconds": info["seconds"], "error": info["error"],
               "overrides": info["overrides"]}
        row.update({f"cfg:{k}": v for k, v in _flatten(cfg).items()})
        row.update(info["metrics"])
        rows.append(row)
    jobs = pd.DataFrame(rows)
    jobs["variant"] = _variants(jobs)
    return jobs


def _variants(jobs: pd.DataFrame) -> pd.Series:
    """``key=value`` of the config keys (not prior/model/seed/paths) that differ between jobs."""
    keys = [c for c in jobs.columns if c.startswith("cfg:")
            and not any(c[4:] == p or (p.endswith(".") and c[4:].startswith(p)) for p in IGNORED)]
    varying = [k for k in keys if jobs[k].astype(str).nunique(dropna=False) > 1]
    if not varying:
        return pd.Series("-", index=jobs.index)
    return jobs[varying].apply(lambda r: ", ".join(f"{k[4:]}={r[k]}" for k in varying), axis=1)


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index, dtype=float)


def _se(x: pd.Series) -> float:
    x = x.dropna()
    return float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else np.nan


def summarize(jobs: pd.DataFrame, metric: str = "test/auroc",
              select: str = "val/auroc_best") -> pd.DataFrame:
    """Per setting: ``n``, mean +- SE of ``metric``, paired t-test vs ``none``, chosen weight."""
    for name in (metric, select):
        if jobs["status"].eq("ok").any() and name not in jobs.columns:
            raise KeyError(f"metric {name!r} is in no result.json; metrics: "
                           f"{sorted(c for c in jobs.columns if '/' in c and ':' not in c)}")
    keys = ["variant", "model", "method", "penalty", "weight"]
    ok = jobs[jobs["status"] == "ok"]
    rows = []
    for key, everything in jobs.groupby(keys, dropna=False):
        variant, model, method = key[:3]
        group = everything[everything["status"] == "ok"]
        status = everything["status"].value_counts()
        row = dict(zip(keys, key), n=len(group), failed=int(status.get("failed", 0)),
                   unfinished=int(status.get("unfinished", 0)),
                   **{select: _col(group, select).mean(), metric: _col(group, metric).mean(),
                      f"{metric} se": _se(_col(group, metric)), "seconds": group["seconds"].mean()})
        row.update(_paired(group, ok, variant, model, method, metric))
        evaluated = [c for c in group.columns if c.startswith(EVAL_PREFIX)]
        for extra in (*EXTRA_METRICS, *evaluated):
            if extra in group.columns and group[extra].notna().any():
                row[extra] = group[extra].mean()
                row[f"{extra} se"] = _se(group[extra])
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
                "delta": diff.mean() if len(seeds) else np.nan, "delta se": _se(diff)})
    if len(seeds) > 1:
        res = stats.ttest_rel(a[seeds], b[seeds])
        out.update({"t": float(res.statistic), "p (paired t)": float(res.pvalue)})
    return out


def _fmt(value, digits: int = 4) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}g}" if 0 < abs(value) < 1e-3 else f"{value:.{digits}f}"
    return str(value)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub markdown table (no ``tabulate`` dependency)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines)


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


def write_report(dirs: Sequence[str | Path], out: Optional[str | Path] = None,
                 metric: str = "test/auroc", select: str = "val/auroc_best",
                 plot: bool = True) -> Dict[str, Path]:
    """Collect, summarize and write ``jobs.csv``, ``table.csv``, ``table.md`` (+ ``table.png``)."""
    jobs = collect(dirs)
    table = summarize(jobs, metric, select)
    out = Path(out or dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    paths = {"jobs": out / "jobs.csv", "table": out / "table.csv", "markdown": out / "table.md"}
    config_cols = [c for c in jobs.columns if c.startswith("cfg:")]
    jobs.drop(columns=config_cols).to_csv(paths["jobs"], index=False)
    table.to_csv(paths["table"], index=False)
    n = jobs["status"].value_counts()
    text = [f"# Sweep results: {', '.join(map(str, dirs))}", "",
            f"{len(jobs)} jobs: {n.get('ok', 0)} ok, {n.get('failed', 0)} failed, "
            f"{n.get('unfinished', 0)} unfinished. {metric}: mean ± standard error over seeds; "
            f"`selected`: the weight with the best mean {select} per method; Δ and p: paired "
            f"t-test against `{BASELINE}` runs with the same seeds.", ""]
    text.append(markdown_table(display_table(table, metric, select)) if len(table)
                else "No job finished.")
    bad = problems(jobs)
    if len(bad):
        text += ["", "## Failed or unfinished jobs", "", markdown_table(bad)]
    paths["markdown"].write_text("\n".join(text) + "\n")
    if plot and len(table):
        from .report_plot import plot_table
        paths["png"] = plot_table(table, out / "table.png", metric)
    return paths


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m priors.report",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="+", help="multirun directories (searched recursively)")
    parser.add_argument("--out", help="output folder (default: the first directory)")
    parser.add_argument("--metric", default="test/auroc", help="reported metric")
    parser.add_argument("--select", default="val/auroc_best", help="weight-selection metric")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    try:
        paths = write_report(args.dirs, args.out, args.metric, args.select, not args.no_plot)
    except (FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(paths["markdown"].read_text())
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
