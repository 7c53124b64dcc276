"""Pixel flipping (Bach et al. 2015)."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from ...masking import iter_masked, rank_features
from .._common import check_attributions, grid_outputs, scored
from ..registry import register


def pixel_flipping_curve(model, x: Tensor, attributions: Tensor, target=None, fill=0.0,
                         features_in_step: int = 1, output: str = "probability",
                         max_elements: Optional[int] = None) -> Tensor:
    """The flipping curve ``(K, N)``: the target output after each of the
    ``K = ceil(F / features_in_step)`` cumulative removals (the clean input not included, as
    in Quantus)."""
    check_attributions(attributions, x)
    n = x[0, 0].numel() if x.dim() == 4 else x[0].numel()
    if int(features_in_step) < 1:
        raise ValueError(f"features_in_step must be >= 1, got {features_in_step}")
    steps = math.ceil(n / int(features_in_step))
    fractions = [min(n, (i + 1) * int(features_in_step)) / n for i in range(steps)]
    # Ties by feature index, the order numpy's argsort of the negated scores gives.
    order, _ = rank_features(attributions, "positive", tie_seed=None)
    f = scored(model, output)
    parts = []
    for rows, masked in iter_masked(x, order, fractions, fill, keep=False,
                                    max_elements=max_elements or 2 ** 24):
        tgt = target[rows] if isinstance(target, Tensor) and target.dim() else target
        parts.append(grid_outputs(f, masked, tgt))
    return torch.cat(parts, 1)


@register("pixel_flipping", family="faithfulness", higher_is_better=False,
          needs=("fill",), quantus="PixelFlipping")
def pixel_flipping(model, x: Tensor, attributions: Tensor, fill, target=None,
                   max_elements: Optional[int] = None, features_in_step: int = 1,
                   output: str = "probability") -> Tensor:
    r"""Pixel flipping: area under the target output as pixels are flipped, most relevant
    first.

    Bach, Binder, Montavon, Klauschen, Müller and Samek, "On Pixel-Wise Explanations for
    Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation", PLoS ONE 10(7), 2015
    (Sec. "Pixel-flipping"): features are replaced by ``fill`` cumulatively,
    ``features_in_step`` at a time in order of decreasing relevance, and the output
    :math:`f_t` recorded after each step; the score is the mean of that curve over the
    removed fraction, :math:`\frac{1}{K}\,\mathrm{trapz}(f_t)` (Quantus reports
    :math:`\mathrm{trapz}` with ``dx=1``: the same curve, :math:`K` times larger). Lower is
    better. Images: a pixel's channels flip together.
    """
    curve = pixel_flipping_curve(model, x, attributions, target, fill, features_in_step,
                                 output, max_elements)
    k = curve.shape[0]
    return torch.trapezoid(curve, dim=0) / k if k > 1 else curve[0]
