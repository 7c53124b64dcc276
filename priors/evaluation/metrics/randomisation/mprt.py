"""Model parameter randomisation test (Adebayo et al. 2018), per example."""
from __future__ import annotations

import torch
from torch import Tensor

from ....core.outputs import select_logits
from ....core.targets import attribution_target
from ...randomize import parameter_layers, randomized_models
from ...similarity import similarities
from .._common import check_attributions
from ..registry import register


@register("mprt", family="randomisation", higher_is_better=False, needs=("explain",),
          quantus="MPRT", aliases=("model_parameter_randomisation",))
def mprt(model, x: Tensor, attributions: Tensor, explain, target=None,
         similarity: str = "spearman", mode: str = "cascading", summary: str = "mean",
         seed: int = 0) -> Tensor:
    r"""Model parameter randomisation: similarity of the explanation of the trained model to
    those of models whose layers are re-initialized, top layer first.

    Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for Saliency Maps",
    NeurIPS 2018 (Sec. 3.1, cascading and independent randomization):
    :math:`\rho(\Phi(f, x), \Phi(f^{(l)}, x))` for the randomized models :math:`f^{(l)}`.
    Every layer holding parameters is randomized, LayerNorm / BatchNorm / GroupNorm included
    (re-initialized to their own defaults; BatchNorm's running statistics too), as in
    :func:`priors.evaluation.randomize.randomized_models`. Per example the score is the
    ``mean`` over the layers (or the ``last``: the fully randomized model with ``cascading``)
    of ``similarity`` (``spearman``, ``spearman_abs``, ``ssim``, ``hog``). Lower is better.
    The run-level study with plots is the ``sanity`` metric.
    """
    check_attributions(attributions, x)
    if summary not in ("mean", "last"):
        raise ValueError(f"summary must be 'mean' or 'last', got {summary!r}")
    a = attributions.detach().float().cpu()
    if target is None:
        with torch.no_grad():
            out = select_logits(model(x))
        target = attribution_target(out, choice="pred")
    scores = []
    parameter_layers(model)  # raises for a model without randomizable layers
    for _, randomized in randomized_models(model, mode, seed):
        b = explain(randomized, x, target).detach().float().cpu()
        scores.append(torch.as_tensor(similarities(a, b, [similarity])[similarity],
                                      dtype=torch.float64))
    stacked = torch.stack(scores)
    return stacked.mean(0) if summary == "mean" else stacked[-1]
