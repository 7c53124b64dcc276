"""ROAR and KAR: remove (or keep) the features an attribution ranks highest, retrain, score.

Hooker, Erhan, Kindermans and Kim, "A Benchmark for Interpretability Methods in Deep Neural
Networks", NeurIPS 2019, https://arxiv.org/abs/1806.10758. For each method and fraction ``t``
the features of every train/val/test input are ranked by the trained run's attribution; ROAR
replaces the top ``t``, KAR the bottom ``t`` by the training mean
(:mod:`priors.evaluation.roar_data`), a fresh model is trained with the run's own recipe
(``python train.py experiment=roar ...``, one ordinary Hydra job per method, fraction, mode
and seed) and scored on the modified test set. A better ranking makes ROAR accuracy fall
faster and KAR accuracy stay higher than the random ranking, which is always included. The
no-retrain variant scores the original model on the modified test sets: its drop mixes the
removed information with the distribution shift that retraining removes.

Python: :func:`run_roar`; from ``evaluate.py``: ``metric=roar`` (``conf/metric/roar.yaml``).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import matplotlib
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure  # not pyplot: no backend switch, no global figures
from tqdm.auto import tqdm

from ..core.stats import standard_error
from ..core.tables import markdown_table
from ..core.targets import predicted_class
from .roar_data import (MODES, RANDOM, load_run, load_run_config, modified_dataset,
                        route_overrides)

log = logging.getLogger(__name__)

FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)


def compose_train_config(overrides: Sequence[str], config_dir: Optional[str | Path] = None):
    """``train.py``'s config for ``overrides`` (as on its command line), composed in-process."""
    from ..app.compose import compose_train_config as compose
    return compose(overrides, config_dir)


def _retrain(overrides: Sequence[str], config_dir: Optional[str]) -> Dict[str, float]:
    from ..pipeline import run
    return run(compose_train_config(overrides, config_dir))


def job_overrides(run_dir: Path, method: str, fraction: float, mode: str, seed: int,
                  out_dir: Path, cache_dir: Optional[Path], hparams: Mapping[str, Any],
                  target: str, threads: Optional[int], extra: Sequence[str]) -> List[str]:
    """The ``train.py`` overrides of one retraining (also the command line it stands for)."""
    ov = ["experiment=roar", f"roar.run={run_dir}", f"roar.method={method}",
          f"roar.fraction={fraction}", f"roar.mode={mode}", f"seed={seed}",
          f"roar.target={target}", f"paths.output_dir={out_dir}"]
    if cache_dir is not None:
        ov.append(f"roar.cache_dir={cache_dir}")
    if hparams:
        # ++: roar.hparams is an empty dict in the config; struct mode refuses new keys otherwise.
        ov.append("++roar.hparams={" + ",".join(f"{k}:{json.dumps(v)}" for k, v in hparams.items())
                  + "}")
    if threads:
        ov.append(f"threads={threads}")
    return ov + route_overrides(extra)


@torch.no_grad()
def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    """Accuracy of ``model`` (single logit: ``logit > 0``; several: argmax)."""
    correct = 0
    for start in range(0, len(x), batch):
        out = model(x[start:start + batch])
        yb = y[start:start + batch]
        correct += int((predicted_class(out) == yb.long()).sum())
    return correct / len(x)


def run_roar(run_dir: str | Path, methods: Iterable[str] = ("grad",),
             fractions: Iterable[float] = FRACTIONS, modes: Iterable[str] = MODES,
             seeds: Iterable[int] = (0, 1, 2), out_dir: Optional[str | Path] = None,
             n_jobs: int = 1, hparams: Optional[Mapping[str, Mapping[str, Any]]] = None,
             target: str = "pred", cache_dir: Optional[str | Path] = None,
             metric: str = "test/acc", threads: Optional[int] = 1,
             overrides: Sequence[str] = (), retrain: bool = True, rerun: bool = False,
             config_dir: Optional[str | Path] = None) -> pd.DataFrame:
    """ROAR/KAR over methods x fractions x modes x seeds for a trained run.

    Builds (or reads from the cache) every modified dataset in this process, scores the
    original model on each modified test set (``no_retrain``), then retrains one
    ``experiment=roar`` job per combination (``n_jobs`` in parallel with joblib; a job whose
    ``result.json`` is already ``ok`` is reused unless ``rerun``) and scores it (``retrained``,
    the job's ``metric``). ``random`` is always added. Writes to ``out_dir`` (default
    ``<run>/roar``): ``roar.csv`` (one row per job), ``roar_table.csv`` / ``roar_table.md``
    (mean +- standard error over seeds) and ``roar_curve.png``. Returns the per-job DataFrame
    with columns ``method, mode, fraction, seed, retrained, no_retrain, dataset_built, seconds``.

    Args:
        hparams: per-method hyperparameters, e.g. ``{"ig": {"n_steps": 32}}``.
        target: attributed output: ``pred`` (the model's predicted class, the default) or
            ``label``. With ``label`` the ranking of a *test* input depends on its true label,
            so the removal pattern can leak the label into the modified test set.
        overrides: extra ``train.py`` overrides for every job, e.g. ``trainer.max_epochs=5``
            (merged over the run's trainer via ``roar.set``, see :func:`route_overrides`).
        retrain: ``False`` skips the retraining (no-retrain variant only).
    """
    start = time.time()
    run_dir = Path(run_dir).resolve()
    out_dir = Path(out_dir) if out_dir else run_dir / "roar"
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir).resolve() if cache_dir else None
    methods = list(dict.fromkeys([*methods, RANDOM]))
    fractions, modes, seeds = [float(f) for f in fractions], list(modes), [int(s) for s in seeds]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"modes must be among {MODES}, got {bad}")
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    model, datamodule, _ = load_run(run_dir)
    grid = [(m, mode, f, s) for m in methods for mode in modes for f in fractions for s in seeds]
    rows, jobs = [], []
    for method, mode, fraction, seed in tqdm(grid, desc="ROAR datasets"):
        splits, _, built = modified_dataset(run_dir, method, fraction, mode, seed, cache_dir,
                                            hparams.get(method, {}), target,
                                            loaded=(model, datamodule))
        x_test, y_test = splits["test"][:2]
        job_dir = out_dir / "jobs" / mode / method / f"f{fraction:g}" / f"s{seed}"
        rows.append({"method": method, "mode": mode, "fraction": fraction, "seed": seed,
                     "no_retrain": _accuracy(model, x_test, y_test), "dataset_built": built,
                     "job_dir": str(job_dir)})
        jobs.append(job_overrides(run_dir, method, fraction, mode, seed, job_dir, cache_dir,
                                  hparams.get(method, {}), target, threads, overrides))
    if retrain:
        todo = [i for i, row in enumerate(rows) if rerun or not _ok(Path(row["job_dir"]))]
        cfg_dir = str(config_dir) if config_dir else None
        if n_jobs > 1 and todo:
            from joblib import Parallel, delayed
            Parallel(n_jobs=n_jobs, verbose=1)(delayed(_retrain)(jobs[i], cfg_dir) for i in todo)
        else:
            for i in tqdm(todo, desc="ROAR retraining"):
                _retrain(jobs[i], cfg_dir)
        for row in rows:
            result = json.loads((Path(row["job_dir"]) / "result.json").read_text())
            row["retrained"] = result.get("metrics", {}).get(metric, np.nan)
            row["seconds"] = result.get("seconds", np.nan)
    frame = pd.DataFrame(rows)
    write_outputs(frame, out_dir, run_dir, metric)
    log.info("ROAR: %d combinations, %d datasets built, %.1f s", len(frame),
             int(frame["dataset_built"].sum()), time.time() - start)
    return frame


def write_outputs(frame: pd.DataFrame, out_dir: Path, run_dir: Path, metric: str) -> None:
    """``roar.csv``, ``roar_table.csv``, ``roar_table.md`` and ``roar_curve.png`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / "roar.csv", index=False)
    table = roar_table(frame)
    table.to_csv(out_dir / "roar_table.csv", index=False)
    (out_dir / "roar_table.md").write_text(table_markdown(table))
    original = load_run_config(run_dir)
    plot_roar(frame, out_dir / "roar_curve.png", original_score=_original_metric(run_dir, metric),
              title=f"{original.model.get('_target_', 'model').split('.')[-1]} on "
                    f"{original.data.get('_target_', 'data').split('.')[-1]}")


def collect_roar(root: str | Path, out_dir: Optional[str | Path] = None,
                 metric: str = "test/acc", no_retrain: bool = True) -> pd.DataFrame:
    """Per-job DataFrame, table and plot from ``experiment=roar`` jobs already run, e.g. by
    ``python train.py -m hydra/launcher=local experiment=roar ...``: every ``result.json``
    under ``root`` whose data is a :class:`~priors.evaluation.modified_data.RoarDataModule`. The
    no-retrain scores use the cached datasets. Outputs go to ``out_dir`` (default ``root``)."""
    rows = []
    for path in sorted(Path(root).rglob("result.json")):
        result = json.loads(path.read_text())
        data = result.get("config", {}).get("data", {})
        if data.get("_target_", "").split(".")[-1] != "RoarDataModule":
            continue
        rows.append({"run": str(Path(data["run"]).resolve()), "method": data["method"],
                     "mode": data["mode"], "fraction": float(data["fraction"]),
                     "seed": int(data["seed"]), "dataset_built": False,
                     "retrained": result.get("metrics", {}).get(metric, np.nan),
                     "seconds": result.get("seconds", np.nan), "job_dir": str(path.parent),
                     "_data": data})
    if not rows:
        raise FileNotFoundError(f"no experiment=roar result.json under {root}")
    runs = sorted({r["run"] for r in rows})
    if len(runs) > 1:
        raise ValueError(f"ROAR jobs of several runs under {root}: {runs}; collect one at a time")
    run_dir = Path(runs[0])
    if no_retrain:
        model, datamodule, _ = load_run(run_dir)
        for row in rows:
            d = row["_data"]
            splits, _, _ = modified_dataset(run_dir, d["method"], d["fraction"], d["mode"],
                                            d["seed"], d.get("cache_dir"), d.get("hparams") or {},
                                            d.get("target", "pred"), loaded=(model, datamodule))
            row["no_retrain"] = _accuracy(model, *splits["test"][:2])
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "_data"} for r in rows])
    write_outputs(frame, Path(out_dir) if out_dir else Path(root), run_dir, metric)
    return frame


def _ok(job_dir: Path) -> bool:
    path = job_dir / "result.json"
    return path.is_file() and json.loads(path.read_text()).get("status") == "ok"


def _original_metric(run_dir: Path, metric: str) -> Optional[float]:
    result = json.loads((run_dir / "result.json").read_text())
    return result.get("metrics", {}).get(metric)


def roar_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard error and count over seeds per (variant, mode, method, fraction)."""
    values = [c for c in ("retrained", "no_retrain") if c in frame]
    long = frame.melt(id_vars=["method", "mode", "fraction", "seed"], value_vars=values,
                      var_name="variant", value_name="score")
    grouped = long.groupby(["variant", "mode", "method", "fraction"])["score"]
    return grouped.agg(mean="mean", se=standard_error, n="count").reset_index()


def table_markdown(table: pd.DataFrame) -> str:
    """Markdown tables (one per variant and mode): methods x fractions, ``mean +- se``."""
    parts = []
    for variant, mode in [(v, m) for v in ("retrained", "no_retrain") for m in MODES]:
        group = table[(table["variant"] == variant) & (table["mode"] == mode)]
        if group.empty:
            continue
        cells = group.assign(cell=[f"{m:.3f} ± {s:.3f}" for m, s in zip(group["mean"],
                                                                        group["se"])])
        wide = cells.pivot(index="method", columns="fraction", values="cell")
        order = sorted(wide.index, key=lambda m: (m == RANDOM, m))
        wide = wide.loc[order].rename(columns=lambda f: f"{f:g}").reset_index()
        parts.append(f"### {mode.upper()} ({variant}), accuracy mean ± se over seeds "
                     f"(n = {int(group['n'].max())}); columns: fraction of features replaced"
                     f"\n\n{markdown_table(wide)}")
    return "\n\n".join(parts) + "\n"


def plot_roar(frame: pd.DataFrame, path: str | Path, original_score: Optional[float] = None,
              title: str = "") -> Path:
    """Accuracy vs fraction replaced: columns ROAR / KAR, rows retrained / not retrained; one
    line per method (mean +- se over seeds), random dashed, the original model dotted."""
    path = Path(path)
    variants = [v for v in ("retrained", "no_retrain") if v in frame]
    modes = [m for m in MODES if m in set(frame["mode"])]
    fig = Figure(figsize=(6 * len(modes), 4.2 * len(variants)))
    axes = fig.subplots(len(variants), len(modes), squeeze=False, sharey=True)
    methods = sorted(set(frame["method"]), key=lambda m: (m == RANDOM, m))
    colors = {m: matplotlib.colormaps["tab10"](i % 10) for i, m in enumerate(methods)}
    for r, variant in enumerate(variants):
        for c, mode in enumerate(modes):
            ax = axes[r, c]
            sub = frame[frame["mode"] == mode]
            for method in methods:
                stats = sub[sub["method"] == method].groupby("fraction")[variant]
                mean, se = stats.mean(), stats.agg(standard_error).fillna(0.0)
                random = method == RANDOM
                ax.errorbar(mean.index, mean.values, yerr=se.values, marker="o", ms=4,
                            capsize=2, ls="--" if random else "-", lw=2.2 if random else 1.4,
                            color="k" if random else colors[method], label=method)
            if original_score is not None:
                ax.axhline(original_score, color="grey", ls=":", lw=1, label="original model")
            what = "replace most important" if mode == "roar" else "replace least important"
            how = "retrained" if variant == "retrained" else "original model, no retraining"
            ax.set_title(f"{mode.upper()} ({what}); {how}", fontsize=10)
            ax.set_xlabel("fraction of features replaced by the training mean")
            ax.set_ylabel("test accuracy")
            ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=8, loc="best")
    fig.suptitle(f"ROAR / KAR (Hooker et al. 2019){': ' + title if title else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
