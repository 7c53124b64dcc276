"""Attribution localisation (Kohlbrenner et al. 2020)."""
from __future__ import annotations

import torch
from torch import Tensor

from .._common import check_attributions, flat_masks, pixel_map
from ..registry import register


@register("attribution_localisation", family="localisation", higher_is_better=True,
          needs=("masks",), quantus="AttributionLocalisation")
def attribution_localisation(x: Tensor, attributions: Tensor, masks: Tensor,
                             weighted: bool = False) -> Tensor:
    r"""Attribution localisation: inside share of the positive attribution, optionally
    weighted by the inverse relative size of the mask.

    Kohlbrenner, Bauer, Nakajima, Binder, Samek and Lapuschkin, "Towards Best Practice in
    Explaining Neural Network Decisions with LRP", IJCNN 2020 (Sec. IV-B, eq. 6-7):

    .. math:: \mu = \frac{R_\mathrm{in}}{R_\mathrm{tot}}, \qquad
              \mu_w = \mu \cdot \frac{S_\mathrm{tot}}{S_\mathrm{in}}

    with positive attributions only (:math:`R^+`), :math:`S` counted in pixels.
    ``weighted=True`` gives :math:`\mu_w` as in the paper (Quantus 0.6 multiplies by the
    reciprocal instead; the unweighted value is the same). ``nan`` for an empty mask.
    """
    check_attributions(attributions, x)
    a = pixel_map(attributions).clamp_min(0)
    m = flat_masks(masks, x)
    total = a.sum(1)
    mu = (a * m).sum(1) / total
    if weighted:
        mu = mu * m.shape[1] / m.sum(1).clamp_min(1)
    return torch.where(m.any(1) & (total > 0), mu, torch.full_like(mu, float("nan")))
