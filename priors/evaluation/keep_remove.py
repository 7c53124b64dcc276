"""Keep/remove-mask metrics of attributions (Lundberg et al. 2020, as used by Hesse et al. 2021).

Lundberg, Erion, Chen, DeGrave, Prutkin, Nair, Katz, Himmelfarb, Bansal and Lee, "From local
explanations to global understanding with explainable AI for trees", Nature Machine
Intelligence 2020, https://arxiv.org/abs/1905.04610 (the benchmark's masking metrics); Hesse,
Schaub-Meyer and Roth, "Fast Axiomatic Attribution for Neural Networks", NeurIPS 2021 (X-DNNs
scored with them on NHANES). For each example, features are ranked by attribution and, for a
grid of fractions of the features, the model is re-evaluated with masked inputs (masked
features take the training mean, or the blurred image for images):

* **KPM** (Keep Positive Mask): keep the top fraction of the positively attributed features;
  curve of the mean target logit. Higher is better.
* **KNM** (Keep Negative Mask): keep the top fraction of the negatively attributed features;
  curve of the mean target logit. Lower is better.
* **KAM** (Keep Absolute Mask): keep the top fraction by magnitude; curve of the task metric
  (AUROC for binary, accuracy for multi-class). Higher is better.
* **RAM** (Remove Absolute Mask): mask the top fraction by magnitude; curve of the task
  metric. Lower is better.

As in Lundberg et al., KPM/KNM never keep more features than have an attribution of the sign
in question. The score of each curve is its trapezoidal area over the fractions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch
from scipy.integrate import trapezoid
from torch import Tensor
from torchmetrics.functional.classification import multiclass_accuracy
from tqdm.auto import tqdm

from ..core.targets import Target, select_output
from .auroc import auroc
from .masking import Fill, geometric_fractions, iter_masked, rank_features


@dataclass(frozen=True)
class MaskMetric:
    """One keep/remove metric: how features are ranked, kept or removed, and what is scored."""

    name: str
    title: str
    mode: str  # ranking: positive / negative / absolute
    keep: bool
    score: str  # "output" (mean target logit) or "task" (AUROC / accuracy)
    higher_is_better: bool


KEEP_REMOVE: Dict[str, MaskMetric] = {m.name: m for m in (
    MaskMetric("kpm", "Keep Positive Mask", "positive", True, "output", True),
    MaskMetric("knm", "Keep Negative Mask", "negative", True, "output", False),
    MaskMetric("kam", "Keep Absolute Mask", "absolute", True, "task", True),
    MaskMetric("ram", "Remove Absolute Mask", "absolute", False, "task", False),
)}


def get_mask_metric(name: str) -> MaskMetric:
    if name not in KEEP_REMOVE:
        raise ValueError(f"unknown keep/remove metric {name!r}; choose one of {list(KEEP_REMOVE)}")
    return KEEP_REMOVE[name]


def task_score(outputs: Tensor, y: Tensor, task: str, num_classes: Optional[int] = None) -> float:
    """AUROC of single-logit outputs (binary) or accuracy of ``(N, C)`` logits (multi-class)."""
    if task == "binary":
        return auroc(outputs, y)  # ranks the logits: a float32 sigmoid ties above ~16.6
    if task == "multiclass":
        classes = num_classes or outputs.shape[1]
        return float(multiclass_accuracy(outputs.float(), y.long(), classes, average="micro"))
    raise ValueError(f"task must be 'binary' or 'multiclass', got {task!r}")


@torch.no_grad()
def _masked_outputs(model, x: Tensor, order: Tensor, limit: Optional[Tensor], fractions,
                    fill: Fill, keep: bool, pixel_level: Optional[bool], max_elements: int
                    ) -> Tensor:
    """The model's outputs on every masked input, ``(K, N, *out)``, chunked over examples."""
    parts = []
    for _, masked in iter_masked(x, order, fractions, fill, keep, limit, pixel_level, max_elements):
        k, b = masked.shape[:2]
        out = model(masked.reshape(k * b, *x.shape[1:]))
        parts.append(out.reshape(k, b, *out.shape[1:]).float())
    return torch.cat(parts, 1)


def mask_curve(model, x: Tensor, y: Optional[Tensor], attr: Tensor, metric: str | MaskMetric,
               fill: Fill, fractions: Optional[Sequence[float]] = None, target: Target = None,
               task: str = "binary", num_classes: Optional[int] = None,
               pixel_level: Optional[bool] = None, max_elements: int = 2 ** 24,
               tie_seed: Optional[int] = 0) -> np.ndarray:
    """One keep/remove curve: the metric's value at each fraction, shape ``(K,)``.

    Args:
        model: maps ``(n, *features)`` to logits ``(n,)``, ``(n, 1)`` or ``(n, C)``.
        x, y: the evaluation inputs ``(N, *features)`` and labels ``(N,)`` (labels are needed
            by KAM/RAM only).
        attr: attributions shaped like ``x``.
        fill: replacement of masked features (scalar, one example's shape, or ``x``'s shape).
        fractions: fractions of features (default: 16 geometric values from 0.01 to 1).
        target: attributed output per example (``None`` for single-logit models); KPM/KNM
            average this output.
        max_elements: bound on the masked values held at once (examples x fractions x features).
    """
    spec = metric if isinstance(metric, MaskMetric) else get_mask_metric(metric)
    fractions = geometric_fractions() if fractions is None else np.asarray(fractions, float)
    if attr.shape != x.shape:
        raise ValueError(f"attributions {tuple(attr.shape)} must be shaped like the inputs "
                         f"{tuple(x.shape)}")
    order, eligible = rank_features(attr, spec.mode, pixel_level, tie_seed)
    limit = None if spec.mode == "absolute" else eligible
    outputs = _masked_outputs(model, x, order, limit, fractions, fill, spec.keep, pixel_level,
                              max_elements)
    if spec.score == "output":
        k, n = outputs.shape[:2]
        flat = outputs.reshape(k * n, *outputs.shape[2:])
        tgt = target.repeat(k) if isinstance(target, Tensor) and target.dim() else target
        return select_output(flat, tgt).view(k, n).mean(1).cpu().numpy()
    if y is None:
        raise ValueError(f"{spec.name} scores the task metric: labels y are needed")
    return np.array([task_score(o, y.to(o.device), task, num_classes) for o in outputs])


def keep_remove(model, x: Tensor, y: Optional[Tensor], attributions: Mapping[str, Tensor],
                fill: Fill, metrics: Sequence[str] = tuple(KEEP_REMOVE),
                fractions: Optional[Sequence[float]] = None, target: Target = None,
                task: str = "binary", num_classes: Optional[int] = None,
                pixel_level: Optional[bool] = None, max_elements: int = 2 ** 24,
                tie_seed: Optional[int] = 0, progress: bool = True
                ) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Curves and areas of keep/remove metrics for several attribution methods.

    ``attributions`` maps a method label to its attributions (shaped like ``x``); the other
    arguments are those of :func:`mask_curve`. Returns ``(curves, scores)``: ``curves`` has
    one row per metric, method and fraction (``metric, method, fraction, value``), ``scores``
    one row per metric and method (``metric, method, auc, higher_is_better``), the area being
    the trapezoidal integral of the curve over the fractions.
    """
    fractions = geometric_fractions() if fractions is None else np.asarray(fractions, float)
    specs = [get_mask_metric(m) for m in metrics]
    curves, scores = [], []
    jobs = [(s, label) for s in specs for label in attributions]
    for spec, label in tqdm(jobs, desc="keep/remove", disable=not progress):
        values = mask_curve(model, x, y, attributions[label], spec, fill, fractions, target,
                            task, num_classes, pixel_level, max_elements, tie_seed)
        curves += [{"metric": spec.name, "method": label, "fraction": float(f), "value": float(v)}
                   for f, v in zip(fractions, values)]
        area = float(trapezoid(values, fractions)) if len(fractions) > 1 else float(values[0])
        scores.append({"metric": spec.name, "method": label, "auc": area,
                       "higher_is_better": spec.higher_is_better})
    return pd.DataFrame(curves), pd.DataFrame(scores)
