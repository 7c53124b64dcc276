"""Energy-based pointing game (Wang et al. 2020)."""
from __future__ import annotations

import torch
from torch import Tensor

from .._common import check_attributions, flat_masks, pixel_map
from ..registry import register


@register("energy_pointing_game", family="localisation", higher_is_better=True,
          needs=("masks",))
def energy_pointing_game(x: Tensor, attributions: Tensor, masks: Tensor) -> Tensor:
    r"""Energy-based pointing game: the share of the map's energy inside the mask.

    Wang, Wang, Du, Yang, Zhang, Ding, Mardziel and Hu, "Score-CAM: Score-Weighted Visual
    Explanations for Convolutional Neural Networks", CVPR Workshops 2020 (Sec. 5.2):

    .. math:: \mathrm{Proportion} = \frac{\sum_{p \in GT} L_p}{\sum_{p \in GT} L_p
              + \sum_{p \notin GT} L_p}

    where :math:`L` is the saliency map scaled to [0, 1] per example (min-max, as the CAM maps
    of the paper are). Unlike :func:`relevance_mass_accuracy` negative relevance is not
    discarded but shifted, so the least relevant pixel has energy 0. ``nan`` for an empty mask
    or a constant map.
    """
    check_attributions(attributions, x)
    a = pixel_map(attributions)
    m = flat_masks(masks, x)
    lo, hi = a.min(1, keepdim=True).values, a.max(1, keepdim=True).values
    energy = (a - lo) / (hi - lo)
    score = (energy * m).sum(1) / energy.sum(1)
    ok = m.any(1) & (hi.squeeze(1) > lo.squeeze(1))
    return torch.where(ok, score, torch.full_like(score, float("nan")))
