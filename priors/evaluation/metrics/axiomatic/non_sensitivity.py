"""Non-sensitivity (Nguyen and Martínez 2020)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ...masking import _expand_mask, _fill_like
from .._common import check_attributions, outputs, pixel_map
from ..registry import register


@register("non_sensitivity", family="axiomatic", higher_is_better=False, needs=("fill",),
          quantus="NonSensitivity")
def non_sensitivity(model, x: Tensor, attributions: Tensor, fill, target=None,
                    max_elements: Optional[int] = None, eps: float = 1e-5,
                    output_eps: float = 1e-5) -> Tensor:
    r"""Non-sensitivity: the number of features on which attribution and model disagree about
    mattering.

    Nguyen and Martínez, "On quantitative aspects of model interpretability", arXiv:2007.07584,
    2020 (Sec. 3.3): with :math:`Z_\Phi = \{i : |\Phi_i| \le \epsilon\}` (zero attribution)
    and :math:`Z_f = \{i : |f(x) - f(x_{[x_i = \bar x_i]})| \le \epsilon_f\}` (removing the
    feature, i.e. replacing it with ``fill``, leaves the output unchanged),

    .. math:: \mathrm{NS} = |Z_\Phi \,\triangle\, Z_f|

    0 when exactly the features the model ignores get no attribution. One forward pass per
    feature (pixel for images), batched. Lower is better.
    """
    check_attributions(attributions, x)
    a = pixel_map(attributions).abs()
    n, nf = a.shape
    pixel = x.dim() == 4
    fx = outputs(model, x, target)
    full_fill = _fill_like(fill, x)
    chunk = max(1, int(max_elements or 2 ** 24) // max(1, x[0].numel() * n))
    insensitive = torch.zeros(n, nf, dtype=torch.bool, device=x.device)
    eye = torch.eye(nf, dtype=torch.bool, device=x.device)
    for lo in range(0, nf, chunk):
        feats = eye[lo:lo + chunk]  # (k, F): one feature removed per variant
        k = feats.shape[0]
        mask = _expand_mask(feats.unsqueeze(1).expand(k, n, nf), x, pixel)
        xs = torch.where(mask, full_fill.unsqueeze(0), x.unsqueeze(0))
        tgt = target.repeat(k) if isinstance(target, Tensor) and target.dim() else target
        out = outputs(model, xs.reshape(k * n, *x.shape[1:]), tgt).view(k, n)
        insensitive[:, lo:lo + k] = ((out - fx.unsqueeze(0)).abs() <= output_eps).T
    zero = a <= eps
    return (zero ^ insensitive).sum(1).double()
