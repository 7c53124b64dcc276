"""Relevance rank accuracy (Arras, Osman and Samek 2022)."""
from __future__ import annotations

import torch
from torch import Tensor

from .._common import check_attributions, flat_masks, pixel_map
from ..registry import register


@register("relevance_rank_accuracy", family="localisation", higher_is_better=True,
          needs=("masks",), quantus="RelevanceRankAccuracy", aliases=("rra",))
def relevance_rank_accuracy(x: Tensor, attributions: Tensor, masks: Tensor) -> Tensor:
    r"""Relevance rank accuracy: the share of the ``K`` top-ranked pixels inside the mask.

    Arras, Osman and Samek, Information Fusion 81, 2022 (Sec. 4.2): with ``K = |GT|`` the size
    of the mask and :math:`P_{top K}` the ``K`` pixels of highest relevance,

    .. math:: \mathrm{RA} = \frac{|P_{top K} \cap GT|}{|GT|}

    Ranking by the signed relevance (pixel = sum over channels); ties are broken by pixel
    index. ``nan`` for an empty mask. One value per example.
    """
    check_attributions(attributions, x)
    a = pixel_map(attributions)
    m = flat_masks(masks, x)
    k = m.sum(1)
    order = a.argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(
        1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    hits = ((ranks < k.unsqueeze(1)) & m).sum(1).double()
    score = hits / k.clamp_min(1)
    return torch.where(k > 0, score, torch.full_like(score, float("nan")))
