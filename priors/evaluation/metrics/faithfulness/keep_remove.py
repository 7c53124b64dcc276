"""KPM, KNM, KAM, RAM: the keep/remove-mask metrics as registered metrics.

The curves themselves are computed by :mod:`priors.evaluation.keep_remove`; here each one is
registered with its direction, and scored by the area under its curve.
"""
from __future__ import annotations

from typing import Optional, Sequence

from scipy.integrate import trapezoid
from torch import Tensor

from ...keep_remove import mask_curve
from ...masking import geometric_fractions
from .._common import check_fractions
from ..registry import register


def _area(name: str, model, x: Tensor, attributions: Tensor, fill, y, target, task,
          num_classes, max_elements, fractions, tie_seed) -> float:
    grid = geometric_fractions() if fractions is None else check_fractions(fractions).numpy()
    task = task or ("binary" if target is None else "multiclass")
    values = mask_curve(model, x, y, attributions, name, fill, grid, target, task, num_classes,
                        max_elements=max_elements or 2 ** 24, tie_seed=tie_seed)
    return float(trapezoid(values, grid)) if len(grid) > 1 else float(values[0])


def _make(name: str, title: str, higher: bool, task_metric: bool) -> None:
    doc = f"""{title} ({name.upper()}): area under the keep/remove curve over the fractions.

    Lundberg et al., "From local explanations to global understanding with explainable AI for
    trees", Nature Machine Intelligence 2, 2020 (Methods, "benchmark metrics"); as used by Hesse,
    Schaub-Meyer and Roth, NeurIPS 2021. The curve's value at fraction :math:`q` is the
    {'task metric (AUROC / accuracy)' if task_metric else 'mean target logit'} of the model on the
    masked inputs; the score is :math:`\\int_q v(q)\\,dq` by the trapezoid rule over ``fractions``
    (default: 16 geometric values from 0.01 to 1). See :mod:`priors.evaluation.keep_remove`.
    """

    def metric(model, x: Tensor, attributions: Tensor, fill, y=None, target=None,
               task: Optional[str] = None, num_classes: Optional[int] = None,
               max_elements: Optional[int] = None,
               fractions: Optional[Sequence[float]] = None, tie_seed: int = 0) -> float:
        return _area(name, model, x, attributions, fill, y, target, task, num_classes,
                     max_elements, fractions, tie_seed)

    metric.__doc__ = doc
    metric.__name__ = metric.__qualname__ = name
    needs = ("fill", "labels") if task_metric else ("fill",)
    register(name, family="faithfulness", higher_is_better=higher, kind="dataset",
             needs=needs)(metric)
    globals()[name] = metric


for _args in (("kpm", "Keep Positive Mask", True, False), ("knm", "Keep Negative Mask", False, False),
              ("kam", "Keep Absolute Mask", True, True), ("ram", "Remove Absolute Mask", False, True)):
    _make(*_args)
