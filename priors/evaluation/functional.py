"""Evaluate any model's attributions in one call: :func:`evaluate` and :func:`evaluate_loader`.

::

    frame = evaluate(model, x, y, methods=["ig", my_fn],
                     metrics=["road_morf", "relevance_mass_accuracy", "max_sensitivity"],
                     masks=m)

One row per method and metric: ``method, metric, family, value`` (the mean over examples, or
the dataset-level value), ``sem`` (its standard error; ``nan`` for dataset-level metrics),
``n`` (examples with a finite score), ``higher_is_better`` and ``direction``, ``seconds``.
Metrics come from the registry (:mod:`priors.evaluation.metrics`) and nothing else.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Optional, Sequence

import pandas as pd
import torch
from torch import Tensor

from ..core.outputs import select_logits
from ..core.targets import attribution_target
from .explainers import explainers
from .masking import feature_mean, gaussian_blur
from .metrics import get_metric
from .metrics._common import sem

COLUMNS = ["method", "metric", "family", "value", "sem", "n", "higher_is_better", "direction",
           "seconds"]


def _metric_options(metrics: Any) -> Dict[str, Dict[str, Any]]:
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, Mapping):
        metrics = {m: {} for m in metrics}
    return {get_metric(name).name: dict(opts or {}) for name, opts in metrics.items()}


def _targets(model, x: Tensor, targets: Any) -> Any:
    """The attributed class per example: the given one, or the predicted class (``None`` for
    single-logit models)."""
    if isinstance(targets, str) and targets == "pred" or targets is None:
        with torch.no_grad():
            out = select_logits(model(x))
        return attribution_target(out, choice="pred")
    if isinstance(targets, Tensor):
        if targets.dim() == 1 and targets.shape[0] != x.shape[0]:
            raise ValueError(f"targets of shape {tuple(targets.shape)} for {x.shape[0]} inputs")
        return targets.long() if not targets.is_floating_point() else targets
    return targets


def evaluate(model, inputs: Tensor, targets: Any = None, methods: Any = ("grad",),
             metrics: Any = ("sparseness",), masks: Optional[Tensor] = None, *,
             labels: Optional[Tensor] = None, fill: Any = "auto", references: Any = None,
             baseline: Any = None, task: Optional[str] = None,
             num_classes: Optional[int] = None, batch_size: int = 256,
             max_elements: int = 2 ** 24, seed: int = 0) -> pd.DataFrame:
    """Score attribution methods on ``inputs`` with registered metrics.

    Args:
        model: any ``nn.Module`` or callable ``(N, *features) -> (N, C)`` or ``(N,)`` logits
            (put it in eval mode first).
        inputs: ``(N, *features)``; images ``(N, C, H, W)``.
        targets: the class to explain per example (``LongTensor (N,)`` or int), ``"pred"`` /
            ``None`` for the predicted class (single-logit models: ``None``).
        methods: registry names, specs ``{"method": "ig", "n_steps": 64}``, callables
            ``fn(model, x, target)``, Captum attribution objects or precomputed attribution
            tensors; a list or a ``{label: method}`` mapping.
        metrics: registered metric names, or ``{name: hyperparameters}``.
        masks: annotation masks for the localisation metrics (shaped like ``inputs`` or
            ``(N, H, W)`` for images).
        labels: true labels for metrics scored by the task metric (KAM/RAM; default: the
            integer ``targets``).
        fill: replacement of removed features: ``"auto"`` (images: Gaussian blur of each
            image, std 4 px; tabular: the mean of ``references`` or else of ``inputs``), a
            scalar or a tensor.
        references: training inputs for methods that need them (Expected Gradients).
        baseline: passed to methods that take one (IG).
        batch_size: examples per method call; ``max_elements``: bound on the perturbed values a
            metric holds at once.
        seed: the global torch seed before each method and metric (stochastic methods and
            metrics are reproducible).

    Returns a DataFrame with the columns of :data:`COLUMNS`.
    """
    if not isinstance(inputs, Tensor) or inputs.dim() < 2:
        raise ValueError("inputs must be a batched tensor (N, *features)")
    options = _metric_options(metrics)
    specs = {name: get_metric(name) for name in options}
    for name, spec in specs.items():
        if spec.kind == "run":
            raise ValueError(f"metric {name!r} retrains or randomizes a training run: call "
                             "priors.evaluation.evaluate_run(run_dir, ...) for it")
        spec.check_hparams(options[name])
        if "masks" in spec.needs and masks is None:
            spec.check_context({"masks": None})
    x = inputs
    tgt = _targets(model, x, targets)
    y = labels if labels is not None else (tgt if isinstance(tgt, Tensor) else None)
    if isinstance(fill, str):
        if fill != "auto":
            raise ValueError(f"fill must be 'auto', a number or a tensor, got {fill!r}")
        fill = gaussian_blur(x) if x.dim() == 4 else feature_mean(
            references if isinstance(references, Tensor) else x)
    if task is None:
        task = "multiclass" if isinstance(tgt, Tensor) or isinstance(tgt, int) else "binary"
    methods_ = explainers(methods, references, baseline, batch_size)
    rows = []
    for label, method in methods_.items():
        torch.manual_seed(seed)
        attributions = (method.precomputed if method.precomputed is not None
                        else method.explain(model, x, tgt))
        if attributions.shape != x.shape:
            raise ValueError(f"method {label!r} gave attributions of shape "
                             f"{tuple(attributions.shape)} for inputs {tuple(x.shape)}")
        for name, spec in specs.items():
            torch.manual_seed(seed)
            start = time.perf_counter()
            context = dict(model=model, x=x, attributions=attributions, target=tgt, y=y,
                           masks=masks, fill=fill, explain=method.explain, task=task,
                           num_classes=num_classes, references=references,
                           max_elements=max_elements)
            if spec.kind == "check":
                if method.precomputed is not None or not isinstance(methods, (list, tuple, Mapping)):
                    continue
                value, err, n = _check(spec, model, x, tgt, references, methods, label,
                                       options[name])
            else:
                out = spec(**context, **options[name])
                if isinstance(out, Tensor):
                    scores = out.detach().double().reshape(-1)
                    finite = scores[torch.isfinite(scores)]
                    value = float(finite.mean()) if finite.numel() else float("nan")
                    err, n = sem(scores), int(finite.numel())
                else:
                    value, err, n = float(out), float("nan"), x.shape[0]
            rows.append({"method": label, "metric": name, "family": spec.family,
                         "value": value, "sem": err, "n": n,
                         "higher_is_better": spec.higher_is_better,
                         "direction": spec.direction,
                         "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows, columns=COLUMNS)


def _check(spec, model, x, tgt, references, methods, label, opts):
    """An axiom check for one registry method: ``value`` is 1 if it holds, else 0."""
    source = methods[label] if isinstance(methods, Mapping) else label
    if not isinstance(source, (str, Mapping)):
        return float("nan"), float("nan"), 0
    method_spec = {"method": source} if isinstance(source, str) else dict(source)
    kwargs = dict(opts)
    if spec.name != "xg_ig":
        kwargs["methods"] = {label: method_spec}
        kwargs["references"] = references
    frame = spec.fn(model, x, target=tgt, **kwargs)
    return float(bool(frame["holds"].iloc[0])), float("nan"), x.shape[0]


def evaluate_loader(model, loader, methods: Any = ("grad",), metrics: Any = ("sparseness",),
                    max_examples: Optional[int] = None, targets: str = "label",
                    batch_fn=None, **kwargs: Any) -> pd.DataFrame:
    """:func:`evaluate` on the batches of a ``DataLoader`` (``(x, y)``, ``(x, y, mask)`` or
    dicts, see :func:`priors.batch.parse_batch`), up to ``max_examples`` examples: the batches
    are concatenated (masks too) and evaluated as one set, so dataset-level metrics see every
    example. ``targets``: ``"label"`` (explain the label) or ``"pred"``."""
    from ..core.batch import parse_batch

    xs, ys, ms = [], [], []
    seen = 0
    for batch in loader:
        b = parse_batch(batch, batch_fn, who="evaluate_loader")
        xs.append(b.x)
        ys.append(b.y)
        ms.append(b.mask)
        seen += len(b.x)
        if max_examples is not None and seen >= max_examples:
            break
    if not xs:
        raise ValueError("evaluate_loader: the loader yielded no batches")
    x = torch.cat(xs)[:max_examples]
    y = torch.cat(ys)[:max_examples] if all(v is not None for v in ys) else None
    masks = torch.cat(ms)[:max_examples] if all(m is not None for m in ms) else None
    if targets not in ("label", "pred"):
        raise ValueError(f"targets must be 'label' or 'pred', got {targets!r}")
    tgt = y.long() if targets == "label" and y is not None and y.dim() == 1 else "pred"
    kwargs.setdefault("masks", masks)
    kwargs.setdefault("labels", y)
    return evaluate(model, x, tgt, methods=methods, metrics=metrics, **kwargs)


__all__: Sequence[str] = ("COLUMNS", "evaluate", "evaluate_loader")
