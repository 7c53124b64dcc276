"""Masked L2 penalty for annotation masks (Right for the Right Reasons)."""
from __future__ import annotations

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
            "mask shaped like x (or broadcastable), 1 where attribution is penalized"
        )
    try:
        masked = attributions * mask.to(attributions)
    except RuntimeError:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to attributions of shape "
            f"{tuple(attributions.shape)}"
        ) from None
    return masked.pow(2).flatten(1).sum(1).mean()
