"""Saliency-guided training: mask the lowest-saliency features, keep the outputs unchanged."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.targets import select_output
from ..core.checks import leaf_or_graph_input
from .registry import register


def mask_low_saliency(inputs: Tensor, saliency: Tensor, fraction: float,
                      low: Optional[float] = None, high: Optional[float] = None) -> Tensor:
    """Copy of ``inputs`` (detached) whose ``floor(fraction * n)`` lowest-``saliency`` features
    per example are replaced by uniform random values in ``[low, high]`` (default: the batch's
    range)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"saliency_guided: mask_fraction must be in [0, 1), got {fraction}")
    x = inputs.detach()
    flat = x.flatten(1)
    k = int(fraction * flat.shape[1])
    if k == 0:
        return x.clone()
    lo = float(x.min()) if low is None else float(low)
    hi = float(x.max()) if high is None else float(high)
    idx = saliency.detach().flatten(1).topk(k, dim=1, largest=False).indices
    noise = lo + (hi - lo) * torch.rand(idx.shape, dtype=x.dtype, device=x.device)
    return flat.scatter(1, idx, noise).view_as(x)


def output_kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """``KL(p || q)`` per example of the models' output distributions (softmax over classes, or
    Bernoulli for one logit)."""
    if p_logits.dim() == 1 or p_logits.shape[1] == 1:
        p_logits = torch.stack([torch.zeros_like(p_logits.reshape(-1)), p_logits.reshape(-1)], 1)
        q_logits = torch.stack([torch.zeros_like(q_logits.reshape(-1)), q_logits.reshape(-1)], 1)
    log_p, log_q = F.log_softmax(p_logits, 1), F.log_softmax(q_logits, 1)
    return (log_p.exp() * (log_p - log_q)).sum(1)


@register("saliency_guided", shares_forward=True, second_forward=True, stochastic=True,
          attribution="grad")
def saliency_guided(model, inputs: Tensor, target=None, create_graph: bool = True,
                    outputs: Optional[Tensor] = None, mask_fraction: float = 0.5,
                    low: Optional[float] = None, high: Optional[float] = None) -> Tensor:
    r"""Saliency-guided training:

    .. math:: L_b = D_{KL}\big(f(x_b)\,\Vert\, f(\tilde x_b)\big),\qquad
              \tilde x_b = \mathrm{mask}\big(x_b, S_k(|\nabla_x f_t(x_b)|)\big),

    where :math:`S_k` are the ``mask_fraction`` of features with the lowest absolute gradient
    (computed without a graph: the mask is a constant), replaced by random values
    (:func:`mask_low_saliency`). Needs no annotation.

    Ismail, Corrada Bravo and Feizi, "Improving Deep Learning Interpretability by Saliency
    Guided Training", NeurIPS 2021, https://arxiv.org/abs/2111.14338 (Algorithm 1).

    Args:
        mask_fraction: share of features masked per example (their k / n).
        low, high: range of the random values (default: the batch's range).
    """
    if outputs is None or not inputs.requires_grad:
        inputs = leaf_or_graph_input(inputs)
        outputs = model(inputs)
    (grad,) = torch.autograd.grad(select_output(outputs, target).sum(), inputs,
                                  retain_graph=True)
    masked = mask_low_saliency(inputs, grad.abs(), float(mask_fraction), low, high)
    return output_kl(outputs, model(masked))
