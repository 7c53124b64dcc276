"""L1 penalty on attributions."""
from __future__ import annotations

from torch import Tensor


def l1_penalty(attributions: Tensor, mask: Tensor | None = None) -> Tensor:
    r""":math:`\Omega(A) = \frac{1}{B} \sum_b \sum_j |A_{bj}|` (sum over features, mean over batch).

    With ``mask``, only masked features (mask != 0, weighted by the mask) count. A sparsity
    prior that, unlike Gini, also shrinks total attribution; see Erion et al., Nature MI 2021.
    """
    a = attributions.abs()
    if mask is not None:
        a = a * mask.to(a)
    return a.flatten(1).sum(1).mean()
