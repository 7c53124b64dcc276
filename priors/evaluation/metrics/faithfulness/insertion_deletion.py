"""Insertion and deletion (Petsiuk, Das and Saenko 2018)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ...masking import gaussian_blur, iter_masked, rank_features
from .._common import check_attributions, grid_outputs, scored
from ..registry import register


def _curve(model, x: Tensor, attributions: Tensor, target, fill, n_steps: int, keep: bool,
           output: str, max_elements: Optional[int]) -> Tensor:
    check_attributions(attributions, x)
    if int(n_steps) < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    fractions = torch.linspace(0, 1, int(n_steps) + 1, dtype=torch.float64).tolist()
    order, _ = rank_features(attributions, "positive", tie_seed=0)
    f = scored(model, output)
    curves = []
    for rows, masked in iter_masked(x, order, fractions, fill, keep,
                                    max_elements=max_elements or 2 ** 24):
        tgt = target[rows] if isinstance(target, Tensor) and target.dim() else target
        curves.append(grid_outputs(f, masked, tgt))
    return torch.cat(curves, 1)  # (K, N)


def _auc(curve: Tensor) -> Tensor:
    k = curve.shape[0]
    if k == 1:
        return curve[0]
    return torch.trapezoid(curve, dx=1.0 / (k - 1), dim=0)


@register("deletion", family="faithfulness", higher_is_better=False)
def deletion(model, x: Tensor, attributions: Tensor, target=None, fill=None,
             max_elements: Optional[int] = None, n_steps: int = 32,
             output: str = "probability") -> Tensor:
    r"""Deletion: area under the class probability as the most relevant pixels are removed.

    Petsiuk, Das and Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
    Models", BMVC 2018 (Sec. 4.1): pixels are removed in order of decreasing relevance
    (replaced by ``fill``, default 0: the paper's black image), ``n_steps`` equal steps from 0 %
    to 100 %, and the score is :math:`\int_0^1 p_t(x_{\setminus q})\,dq` (trapezoid rule).
    Lower is better (a sharp drop). ``output="logit"`` scores the logit instead of the
    softmax/sigmoid probability. Images: a pixel's channels are removed together.
    """
    fill = 0.0 if fill is None else fill
    return _auc(_curve(model, x, attributions, target, fill, n_steps, False, output,
                       max_elements))


@register("insertion", family="faithfulness", higher_is_better=True)
def insertion(model, x: Tensor, attributions: Tensor, target=None, fill=None,
              max_elements: Optional[int] = None, n_steps: int = 32,
              output: str = "probability", blur_sigma: float = 4.0) -> Tensor:
    r"""Insertion: area under the class probability as the most relevant pixels are inserted.

    Petsiuk, Das and Saenko, BMVC 2018 (Sec. 4.1): starting from a blurred copy of the image
    (Gaussian, std ``blur_sigma`` pixels; tabular inputs: ``fill``, default 0), the pixels are
    put back in order of decreasing relevance in ``n_steps`` equal steps; the score is
    :math:`\int_0^1 p_t(x_{q})\,dq` (trapezoid rule). Higher is better. ``fill`` replaces the
    blurred start when given.
    """
    if fill is None:
        fill = gaussian_blur(x, blur_sigma) if x.dim() == 4 else 0.0
    return _auc(_curve(model, x, attributions, target, fill, n_steps, True, output,
                       max_elements))

