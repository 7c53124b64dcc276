"""Sparseness: the Gini index of the attribution magnitudes (Chalasani et al. 2020)."""
from __future__ import annotations

import torch
from torch import Tensor

from .._common import pixel_map
from ..registry import register


@register("sparseness", family="complexity", higher_is_better=True, quantus="Sparseness")
def sparseness(attributions: Tensor) -> Tensor:
    r"""Sparseness: the Gini index of each example's absolute attributions.

    Chalasani, Chen, Chowdhury, Wu and Jha, "Concise Explanations of Neural Networks using
    Adversarial Training", ICML 2020 (Sec. 6), with the Gini index of Hurley and Rickard
    (IEEE Trans. Inf. Theory 2009, eq. for :math:`G`): for the magnitudes sorted ascending,
    :math:`a_{(1)} \le \dots \le a_{(F)}`,

    .. math:: G = \frac{\sum_{i=1}^F (2i - F - 1)\, a_{(i)}}{F \sum_i a_{(i)}}

    0 for a uniform map, :math:`1 - 1/F` when one feature holds everything. Per example (as
    Quantus' ``Sparseness``), in float64; images: pixel = sum over channels. An all-zero map
    gets 0.
    """
    a = pixel_map(attributions).abs().sort(1).values
    n = a.shape[1]
    i = torch.arange(1, n + 1, dtype=a.dtype, device=a.device)
    total = a.sum(1)
    gini = ((2 * i - n - 1) * a).sum(1) / (n * total)
    return torch.where(total > 0, gini, torch.zeros_like(gini))
