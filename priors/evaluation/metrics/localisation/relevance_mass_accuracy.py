"""Relevance mass accuracy (Arras, Osman and Samek 2022)."""
from __future__ import annotations

import torch
from torch import Tensor

from .._common import check_attributions, flat_masks, pixel_map
from ..registry import register


@register("relevance_mass_accuracy", family="localisation", higher_is_better=True,
          needs=("masks",), quantus="RelevanceMassAccuracy", aliases=("rma",))
def relevance_mass_accuracy(x: Tensor, attributions: Tensor, masks: Tensor) -> Tensor:
    r"""Relevance mass accuracy: the share of the positive relevance inside the mask.

    Arras, Osman and Samek, "CLEVR-XAI: A benchmark dataset for the ground truth evaluation of
    neural network explanations", Information Fusion 81, 2022 (Sec. 4.2):

    .. math:: \mathrm{MA} = \frac{R_\mathrm{within}}{R_\mathrm{total}}
              = \frac{\sum_{p \in GT} R_p^+}{\sum_p R_p^+}

    with only positive relevance counted, as the paper does. Images: a pixel's relevance is the
    sum over its channels. 1 when all positive relevance lies in the mask; ``nan`` for an empty
    mask or no positive relevance. One value per example.
    """
    check_attributions(attributions, x)
    a = pixel_map(attributions).clamp_min(0)
    m = flat_masks(masks, x)
    total = a.sum(1)
    score = (a * m).sum(1) / total
    return torch.where((m.sum(1) > 0) & (total > 0), score, torch.full_like(score, float("nan")))
