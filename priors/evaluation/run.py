"""Evaluate the attributions of a finished training run: what ``evaluate.py`` does.

:func:`evaluate_run` loads the run (:mod:`priors.evaluation.load`), computes the attributions
of every requested method on the evaluation split, scores them with the keep/remove metrics
and the axiom checks, and writes ``<run>/evaluation/``: one CSV per metric (``kpm.csv``, ...,
``completeness.csv``, ...), ``scores.csv`` (areas under the keep/remove curves, read by
``python -m priors.report``), ``timing.csv``, one PNG per keep/remove metric and
``summary.md``.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate
from torch import Tensor

from ..core.targets import Target, attribution_target, check_target_choice
from .attribute import compute_attributions, method_specs, split_available
from .functional import evaluate
from .keep_remove import KEEP_REMOVE, keep_remove
from .load import LoadedRun, dataset_tensors, load_run, split_dataset
from .masking import feature_mean, gaussian_blur, geometric_fractions, is_image_batch
from .plots import plot_curves
from .metrics import available_metrics, get_metric
from .summary import write_summary

log = logging.getLogger(__name__)

# Every registered metric (priors.evaluation.metrics); the registry is the only list.
METRICS = tuple(available_metrics())
# evaluate_run's default: the dataset-level curves (KPM/KNM/KAM/RAM) and the axiom checks.
DEFAULT_METRICS = tuple(available_metrics(kind="dataset")) + tuple(available_metrics(kind="check"))


def metric_options(metrics: Mapping[str, Any] | Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """``{name: options}`` from a list of names or a mapping (Hydra's ``metric`` group)."""
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, Mapping):
        metrics = {m: {} for m in metrics}
    out = {}
    for name, options in metrics.items():
        if options is None:
            continue
        if name not in METRICS and "_target_" not in options:
            raise ValueError(f"unknown metric {name!r}; choose from {list(METRICS)} or give a "
                             "'_target_' callable (run_dir, out_dir=...) such as "
                             "priors.evaluation.roar.run_roar")
        if "_target_" not in options:
            name = get_metric(name).name
        out[name] = dict(options)
    return out


def _fractions(fractions: Any) -> np.ndarray:
    if fractions is None:
        return geometric_fractions()
    if isinstance(fractions, Mapping):
        return geometric_fractions(**fractions)
    return np.asarray(list(fractions), dtype=float)


def _target(run: LoadedRun, x: Tensor, y: Tensor, target: str, batch_size: int) -> Target:
    check_target_choice(target)
    with torch.no_grad():
        outputs = torch.cat([run.model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    return attribution_target(outputs, y, target)


class _Clock:
    """Wall time of each step, for ``timing.csv``."""

    def __init__(self) -> None:
        self.rows = []

    def add(self, step: str, seconds: float) -> None:
        self.rows.append({"step": step, "seconds": round(seconds, 4)})
        log.info("%s: %.2f s", step, seconds)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["step", "seconds"])


def evaluate_run(run_dir: str | Path, methods: Mapping[str, Any] | Sequence[str],
                 metrics: Mapping[str, Any] | Sequence[str] = DEFAULT_METRICS,
                 out_dir: Optional[str | Path] = None, split: str = "test",
                 n_examples: Optional[int] = None, target: str = "pred",
                 fractions: Any = None, batch_size: int = 256, max_elements: int = 2 ** 24,
                 blur_sigma: float = 4.0, seed: int = 0, threads: Optional[int] = None,
                 progress: bool = True, plots: bool = True) -> Dict[str, Any]:
    """Evaluate the run in ``run_dir`` and write ``<run_dir>/evaluation`` (or ``out_dir``).

    Args:
        methods: method specs ``{label: {method: name, **hparams}}`` or names (registry names;
            methods not registered in this installation are skipped and listed in the summary).
        metrics: registered metric names (:data:`METRICS`, the registry) or ``{name: options}``;
            per-example and dataset-level metrics other than KPM/KNM/KAM/RAM are computed by
            :func:`~priors.evaluation.evaluate` and written to ``metrics.csv``; axiom options are keyword
            arguments of the check (``rtol``, ``methods``, ...) plus ``n_examples`` (default
            64). Axioms without ``methods`` check the evaluated methods.
        split: the datamodule's ``train``, ``val`` or ``test`` dataset.
        n_examples: evaluate a seeded random subset of that size (``None``: the whole split).
        target: multi-class models: attribute and score the ``pred``-icted class or the
            ``label``.
        fractions: the keep/remove grid: a list, or ``{start, stop, num}`` of a geometric one.
        batch_size: examples per attribution call; ``max_elements``: masked values held at once.
        blur_sigma: Gaussian blur (pixels) of the image fill; tabular data take the training mean.

    Returns a dict of the DataFrames (``scores``, ``curves``, axiom names, ``timing``) and
    ``out_dir``.
    """
    clock = _Clock()
    start = time.perf_counter()
    run = load_run(run_dir, threads)
    out = Path(out_dir) if out_dir else run.run_dir / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    x, y = dataset_tensors(split_dataset(run.datamodule, split), n_examples, seed)
    train_x, _ = dataset_tensors(run.datamodule.train_dataset, None, seed)
    clock.add("load run and data", time.perf_counter() - start)
    torch.manual_seed(seed)
    tgt = _target(run, x, y, target, batch_size)
    fill = gaussian_blur(x, blur_sigma) if is_image_batch(x) else feature_mean(train_x)
    specs, skipped = split_available(method_specs(methods))
    for label, why in skipped.items():
        log.warning("method %s skipped: %s", label, why)
    attrs = {}
    for label, spec in list(specs.items()):
        try:
            got, timing = compute_attributions(run.model, x, {label: spec}, tgt, train_x,
                                               batch_size, progress)
        except ValueError as err:  # e.g. Grad-CAM on an MLP: not applicable
            log.warning("method %s skipped: %s", label, err)
            skipped[label] = f"{type(err).__name__}: {err}"
            specs.pop(label)
            continue
        attrs.update(got)
        clock.add(f"attributions {label}", float(timing["seconds"].iloc[0]))

    options = metric_options(metrics)
    results: Dict[str, Any] = {"out_dir": out, "skipped": skipped}
    kinds = {m: get_metric(m).kind for m in options if "_target_" not in options[m]}
    # The keep/remove metrics keep their curves (CSV + plots); other per-example and
    # dataset-level metrics go through the functional API into metrics.csv.
    kr = [m for m in options if m in KEEP_REMOVE]
    if kr:
        grid = _fractions(fractions)
        curves, scores = [], []
        for name in kr:
            t0 = time.perf_counter()
            c, s = keep_remove(run.model, x, y, attrs, fill, [name], grid, tgt, run.task,
                               run.num_classes, max_elements=max_elements, progress=progress)
            clock.add(f"keep/remove {name}", time.perf_counter() - t0)
            c.drop(columns="metric").to_csv(out / f"{name}.csv", index=False)
            curves.append(c)
            scores.append(s)
        results["curves"], results["scores"] = pd.concat(curves), pd.concat(scores)
        results["scores"].to_csv(out / "scores.csv", index=False)
        if plots:
            t0 = time.perf_counter()
            title = f"{run.run_dir.name}: {type(run.model).__name__}, {len(x)} {split} examples"
            results["plots"] = plot_curves(results["curves"], results["scores"], out, run.task,
                                           title)
            clock.add("plots", time.perf_counter() - t0)
    others = {m: {k: v for k, v in options[m].items() if k != "n_examples"} for m in options
              if kinds.get(m) in ("example", "dataset") and m not in KEEP_REMOVE}
    if others and attrs:
        t0 = time.perf_counter()
        frames = [evaluate(run.model, x, tgt, methods={k: v for k, v in attrs.items()},
                           metrics=others, labels=y, fill=fill, references=train_x,
                           task=run.task, num_classes=run.num_classes,
                           max_elements=max_elements, seed=seed)]
        # Metrics that re-run the method (robustness, randomisation) need it, not only its
        # attributions: those go through the specs.
        rerun = {m: o for m, o in others.items() if "explain" in get_metric(m).needs}
        if rerun:
            frames = [frames[0][~frames[0]["metric"].isin(list(rerun))]]
            for label, spec in specs.items():
                frames.append(evaluate(run.model, x, tgt, methods={label: spec}, metrics=rerun,
                                       labels=y, fill=fill, references=train_x,
                                       task=run.task, num_classes=run.num_classes,
                                       batch_size=batch_size, max_elements=max_elements,
                                       seed=seed))
        results["metrics"] = pd.concat(frames, ignore_index=True)
        results["metrics"].to_csv(out / "metrics.csv", index=False)
        clock.add("metrics " + ", ".join(others), time.perf_counter() - t0)
    results["axioms"] = {}
    for name in (m for m in options if kinds.get(m) == "check"):
        opts = dict(options[name])
        n = opts.pop("n_examples", 64)
        opts.setdefault("methods", specs)
        opts["methods"], _ = split_available(method_specs(opts["methods"]))
        if name == "xg_ig":
            opts.pop("methods")
        sub = slice(0, n)
        sub_tgt = tgt[sub] if isinstance(tgt, Tensor) else tgt
        t0 = time.perf_counter()
        extra = {"references": train_x} if name != "xg_ig" else {}
        try:
            frame = get_metric(name).fn(run.model, x[sub], target=sub_tgt, **extra, **opts)
        except ValueError as err:  # e.g. no MLP hidden layer to split: not applicable
            frame = pd.DataFrame([{"not_applicable": str(err)}])
        clock.add(f"axiom {name}", time.perf_counter() - t0)
        frame.to_csv(out / f"{name}.csv", index=False)
        results["axioms"][name] = frame
    # Run-level evaluations that retrain or randomize the model (ROAR/KAR, sanity checks):
    # Hydra partials called with the run and their own output folder.
    for name, opts in options.items():
        if "_target_" not in opts and kinds.get(name) == "run":
            t0 = time.perf_counter()
            results[name] = get_metric(name).fn(run.run_dir, out_dir=out / name, **opts)
            clock.add(name, time.perf_counter() - t0)
        if "_target_" in opts:
            t0 = time.perf_counter()
            results[name] = instantiate(opts)(run.run_dir, out_dir=out / name)
            clock.add(name, time.perf_counter() - t0)
    clock.add("total", time.perf_counter() - start)
    results["timing"] = clock.frame()
    results["timing"].to_csv(out / "timing.csv", index=False)
    write_summary(out / "summary.md", run, results, split=split, n_examples=len(x))
    return results
