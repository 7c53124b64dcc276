"""Total-variation smoothness penalty for image attributions."""
from __future__ import annotations

from torch import Tensor


def total_variation_penalty(attributions: Tensor, mask: Tensor | None = None) -> Tensor:
    r"""Anisotropic total variation of the channel-summed absolute attribution map.

    For :math:`m_{hw} = \sum_c |A_{chw}|`:
    :math:`\Omega(A) = \frac{1}{B}\sum_b \sum_{h,w} |m_{h+1,w} - m_{h,w}| + |m_{h,w+1} - m_{h,w}|`
    (sum over pixels, mean over batch). Accepts ``(B, C, H, W)`` or ``(B, H, W)``.

    Erion et al., "Improving performance of deep learning models with axiomatic attribution
    priors and expected gradients", Nature Machine Intelligence 2021 (the image smoothness prior).
    ``mask`` is ignored.
    """
    if attributions.dim() == 4:
        m = attributions.abs().sum(1)
    elif attributions.dim() == 3:
        m = attributions.abs()
    else:
        raise ValueError(
            "total variation needs image attributions of shape (B, C, H, W) or (B, H, W); got "
            f"{tuple(attributions.shape)}"
        )
    tv = (m[:, 1:, :] - m[:, :-1, :]).abs().sum((1, 2)) + (m[:, :, 1:] - m[:, :, :-1]).abs().sum((1, 2))
    return tv.mean()
