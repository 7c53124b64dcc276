"""Rationale alignment: reward attribution on the annotated rationale tokens of a text."""
from __future__ import annotations

from torch import Tensor


def rationale_alignment_penalty(attributions: Tensor, mask: Tensor | None,
                                eps: float = 1e-12) -> Tensor:
    r"""Cross-entropy between the rationale and the normalized attribution magnitudes.

    .. math:: \Omega(A, R) = -\frac{1}{|B_R|} \sum_{b \in B_R} \sum_t q_{bt} \log p_{bt},
              \quad p_{bt} = \frac{|A_{bt}|}{\sum_{t'} |A_{bt'}|}, \quad
              q_{bt} = \frac{R_{bt}}{\sum_{t'} R_{bt'}},

    ``R`` marks the rationale tokens (1 = the evidence a human annotated, e.g. ERASER's
    rationales: DeYoung et al., "ERASER: A Benchmark to Evaluate Rationalized NLP Models", ACL
    2020, https://arxiv.org/abs/1911.03429), ``B_R`` the examples with a rationale. It is
    minimal (:math:`H(q)`) when the attribution mass is spread over the rationale as ``q`` is,
    and grows as mass moves off it; scale-free in ``A``. This is the attention-supervision loss
    of Zhong, Shao and McKeown, "Fine-grained Sentiment Analysis with Faithful Attention",
    2019, https://arxiv.org/abs/1908.06870, Eq. 9, applied to attributions (Liu and Avci, ACL
    2019, https://arxiv.org/abs/1906.08286, penalize attributions of chosen tokens instead:
    ``masked_l2``).

    Where ``masked_l2``'s mask marks tokens that must *not* matter, this mask marks tokens that
    *should*.
    """
    if mask is None:
        raise ValueError("the rationale_alignment penalty needs a rationale mask (batch, tokens), "
                         "1 on the rationale tokens")
    if tuple(mask.shape) != tuple(attributions.shape):
        raise ValueError(f"rationale mask of shape {tuple(mask.shape)} does not match the token "
                         f"attributions {tuple(attributions.shape)}")
    r = mask.to(attributions).flatten(1)
    mag = attributions.abs().flatten(1)
    p = mag / (mag.sum(1, keepdim=True) + eps)
    has = r.sum(1) > 0
    q = r / r.sum(1, keepdim=True).clamp(min=1)
    ce = -(q * (p + eps).log()).sum(1)
    return (ce * has).sum() / has.sum().clamp(min=1)
