"""Complexity: the entropy of the fractional attribution (Bhatt et al. 2020)."""
from __future__ import annotations

import torch
from torch import Tensor

from .._common import pixel_map
from ..registry import register


@register("complexity", family="complexity", higher_is_better=False, quantus="Complexity")
def complexity(attributions: Tensor) -> Tensor:
    r"""Complexity: the Shannon entropy of the fractional contribution of each feature.

    Bhatt, Weller and Moura, "Evaluating and Aggregating Feature-based Model Explanations",
    IJCAI 2020 (Sec. 4.3, eq. for :math:`\mu_C`): with
    :math:`\mathbb{P}_g(i) = |g_i| / \sum_j |g_j|`,

    .. math:: \mu_C = -\sum_i \mathbb{P}_g(i) \ln \mathbb{P}_g(i)

    (natural log, :math:`0 \ln 0 = 0`). Lower is simpler; :math:`\ln F` for a uniform map.
    Per example, float64; images: pixel = sum over channels. An all-zero map gets ``nan``.
    """
    a = pixel_map(attributions).abs()
    p = a / a.sum(1, keepdim=True)
    return -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum(1)
