"""Masked L2 penalty for annotation masks (Right for the Right Reasons)."""
from __future__ import annotations

import torch
from torch import Tensor


def masked_l2_penalty(attributions: Tensor, mask: Tensor | None) -> Tensor:
    r""":math:`\Omega(A, M) = \frac{1}{B} \sum_b \sum_j (M_{bj} A_{bj})^2`.

    ``M`` marks features the model should *not* rely on (1 = irrelevant). Sum over features, mean
    over the batch, so the weight does not depend on batch size (Ross et al. sum over the batch
    too; multiply the weight by the batch size to match their lambda).

    Ross, Hughes and Doshi-Velez, "Right for the Right Reasons", IJCAI 2017,
    https://arxiv.org/abs/1703.03717.
    """
    if mask is None:
        raise ValueError(
            "the masked_l2 penalty needs an annotation mask: batches must be (x, y, mask) with "
            "mask shaped like x (same batch size and axes, other axes equal or 1), 1 where "
            "attribution is penalized. A third batch element of another shape is not taken as "
            "the mask: a (B, H, W) mask for (B, 1, H, W) inputs needs mask.unsqueeze(1); "
            "(B,) or (B, 1) per-example values are no mask"
        )
    check_mask(mask, attributions)
    masked = attributions * mask.to(attributions)
    return masked.pow(2).flatten(1).sum(1).mean()


def check_mask(mask: Tensor, attributions: Tensor) -> None:
    """Refuse a mask that would pair one example with another's mask, or scale the penalty.

    The mask may broadcast over channels (``(B, 1, H, W)`` for ``(B, C, H, W)``) but never
    over the batch: a ``(B, H, W)`` mask on ``(B, 1, H, W)`` attributions broadcasts to
    ``(B, B, H, W)`` and penalizes every example with every example's mask. Values must lie in
    ``[0, 1]``: a 0/255 image mask would scale the squared penalty by 65025.
    """
    try:
        shape = torch.broadcast_shapes(mask.shape, attributions.shape)
    except RuntimeError:
        shape = None
    if (shape != attributions.shape or mask.dim() != attributions.dim()
            or mask.shape[0] != attributions.shape[0]):
        hint = ""
        if mask.dim() == attributions.dim() - 1 and mask.shape[0] == attributions.shape[0]:
            hint = " (a mask without the channel axis: pass mask.unsqueeze(1))"
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to attributions of shape "
            f"{tuple(attributions.shape)} example by example: it needs the same batch size "
            f"and number of axes, other axes equal or 1{hint}")
    if mask.numel() and (mask.min() < 0 or mask.max() > 1):
        raise ValueError(f"mask values must lie in [0, 1] (1 = penalize), got values in "
                         f"[{float(mask.min()):g}, {float(mask.max()):g}]; divide a 0/255 "
                         "image mask by 255")
