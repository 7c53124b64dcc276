"""Pointing game (Zhang et al. 2018)."""
from __future__ import annotations

import torch
from torch import Tensor

from .._common import check_attributions, flat_masks, pixel_map
from ..registry import register


@register("pointing_game", family="localisation", higher_is_better=True, needs=("masks",),
          quantus="PointingGame")
def pointing_game(x: Tensor, attributions: Tensor, masks: Tensor) -> Tensor:
    r"""Pointing game: 1 if the most relevant pixel lies in the mask, else 0.

    Zhang, Bargal, Lin, Brandt, Shen and Sclaroff, "Top-down Neural Attention by Excitation
    Backprop", IJCV 126, 2018 (Sec. 5.1): a hit is counted when the maximum of the map falls in
    the annotated region, :math:`\mathrm{hit} = [\arg\max_p R_p \in GT]`; the accuracy is
    hits / (hits + misses). Without the paper's 15-pixel tolerance (as Quantus); when several
    pixels share the maximum, one of them inside the mask is a hit. ``nan`` for an empty mask.
    """
    check_attributions(attributions, x)
    a = pixel_map(attributions)
    m = flat_masks(masks, x)
    top = a == a.max(1, keepdim=True).values
    hit = (top & m).any(1).double()
    return torch.where(m.any(1), hit, torch.full_like(hit, float("nan")))
