"""Right-for-the-Right-Reasons input gradient of the summed log-probabilities."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.checks import check_batched, leaf_or_graph_input
from ..core.targets import is_single_output
from .registry import register


def summed_log_probs(outputs: Tensor) -> Tensor:
    """Per-example sum of log-probabilities over classes, shape ``(B,)``.

    A single logit ``z`` is a Bernoulli model: ``log sigmoid(z) + log sigmoid(-z)``.
    """
    if is_single_output(outputs):
        z = outputs.reshape(-1)
        # == log sigmoid(z) + log sigmoid(-z); softplus is much faster than logsigmoid on CPU.
        return -(F.softplus(z) + F.softplus(-z))
    if outputs.dim() != 2:
        raise ValueError(
            f"model output must have shape (batch,) or (batch, classes); got {tuple(outputs.shape)}"
        )
    return F.log_softmax(outputs, dim=1).sum(dim=1)


@register("rrr", aliases=("log_prob_gradient",), shares_forward=True, uses_target=False)
def log_prob_gradient(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    target: None = None,
    create_graph: bool = False,
    outputs: Optional[Tensor] = None,
) -> Tensor:
    r"""Input gradient of the summed log-probabilities, :math:`\partial/\partial x \sum_k \log \hat y_k`.

    This is the explanation penalized by the "right for the right reasons" loss of
    Ross, Hughes and Doshi-Velez, "Right for the Right Reasons: Training Differentiable Models by
    Constraining their Explanations", IJCAI 2017, https://arxiv.org/abs/1703.03717 (their loss
    adds :math:`\lambda \sum (A \odot \partial_x \sum_k \log \hat y_k)^2`, see
    :func:`priors.penalties.masked_l2`). It does not depend on a target class; ``target`` is
    accepted for a uniform signature and must be ``None``.
    """
    if target is not None:
        raise ValueError("log_prob_gradient sums over all classes and takes no target")
    if outputs is None:
        check_batched(inputs)
        inputs = leaf_or_graph_input(inputs)
        outputs = model(inputs)
    elif not inputs.requires_grad:
        raise ValueError("when outputs are given, inputs must require grad and have produced them")
    (grad,) = torch.autograd.grad(
        summed_log_probs(outputs).sum(), inputs, create_graph=create_graph, retain_graph=True
    )
    return grad
