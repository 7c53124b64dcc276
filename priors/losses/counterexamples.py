"""Counterexamples (CE): a data-side prior that randomizes the annotated-irrelevant region."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.targets import is_single_output
from .annotations import fit_mask
from .registry import register


def counterexample_inputs(inputs: Tensor, mask: Tensor, low: Optional[float] = None,
                          high: Optional[float] = None,
                          generator: Optional[torch.Generator] = None) -> Tensor:
    r""":math:`\tilde x = (1 - M) \odot x + M \odot u`, :math:`u \sim U[\mathrm{low},
    \mathrm{high}]` per feature (default: the batch's range), detached; features where
    :math:`M = 0` are left exactly as they are."""
    x = inputs.detach()
    lo = float(x.min()) if low is None else float(low)
    hi = float(x.max()) if high is None else float(high)
    if hi < lo:
        raise ValueError(f"counterexamples: high ({hi}) must be >= low ({lo})")
    noise = torch.rand(x.shape, generator=generator, dtype=x.dtype,
                       device="cpu" if generator is not None else x.device).to(x.device)
    noise = lo + (hi - lo) * noise
    m = fit_mask(mask, x).expand_as(x)
    return torch.where(m > 0, (1 - m) * x + m * noise, x)


def task_loss_per_example(outputs: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy (classes) or binary cross-entropy (one logit), one value per example."""
    if is_single_output(outputs):
        return F.binary_cross_entropy_with_logits(outputs.reshape(-1), labels.float().reshape(-1),
                                                  reduction="none")
    return F.cross_entropy(outputs, labels.long(), reduction="none")


@register("counterexamples", annotations="wrong", second_forward=True, data_side=True,
          stochastic=True, uses_target=False)
def counterexamples(model, inputs: Tensor, labels: Tensor = None, annotations: Tensor = None,
                    n_copies: int = 1, low: Optional[float] = None,
                    high: Optional[float] = None) -> Tensor:
    r"""Task loss on counterexamples whose annotated-irrelevant features are randomized:

    .. math:: L_b = \frac{1}{n}\sum_{r=1}^{n} \ell\big(f(\tilde x_b^{(r)}), y_b\big),

    :math:`\tilde x` from :func:`counterexample_inputs`: the label must not change when the
    features the user called irrelevant change.

    Teso and Kersting, "Explanatory Interactive Machine Learning", AIES 2019,
    https://arxiv.org/abs/1805.08578 (counterexamples by randomization of the components the
    user marked irrelevant; added here as a loss term instead of to the data set).

    Args:
        n_copies: counterexamples per annotated example.
        low, high: range of the random values (default: the batch's minimum and maximum).
    """
    if n_copies < 1:
        raise ValueError(f"counterexamples: n_copies must be >= 1, got {n_copies}")
    x = inputs.repeat(n_copies, *([1] * (inputs.dim() - 1)))
    mask = annotations.repeat(n_copies, *([1] * (annotations.dim() - 1)))
    losses = task_loss_per_example(model(counterexample_inputs(x, mask, low, high)),
                                   labels.repeat(n_copies))
    return losses.view(n_copies, -1).mean(0)
