r"""Relevance propagation rules of Chefer, Gur and Wolf (CVPR 2021) for transformer layers.

Chefer, Gur and Wolf, "Transformer Interpretability Beyond Attention Visualization", CVPR 2021,
https://arxiv.org/abs/2012.09838. Implemented from the paper's equations; relevance tensors have
the shape of the activation they explain and every sum below is per example (over all non-batch
dimensions), so a batch gives the same relevance as its examples one by one.

* Linear layers, LRP-:math:`\alpha\beta` with :math:`\alpha = 1, \beta = 0` (paper Eq. 3;
  Bach et al. 2015): only positive contributions count,
  :math:`R_j = \sum_i \frac{(x_j w_{ij})^+}{\sum_{j'} (x_{j'} w_{ij'})^+} R_i`. Biases take no
  relevance, so :math:`\sum_j R_j = \sum_i R_i` for every output with a positive contribution.
  :math:`(x_j w_{ij})^+ = x_j^+ w_{ij}^+ + x_j^- w_{ij}^-`, two matrix products.
* Element-wise and normalization layers (GELU, softmax, LayerNorm, the attention scaling) pass
  relevance unchanged, which conserves it.
* The input layer of full LRP, the :math:`z^{\mathcal{B}}` rule for inputs bounded by
  :math:`l \le x \le h` (Montavon et al., "Explaining nonlinear classification decisions with
  deep Taylor decomposition", Pattern Recognition 2017, https://arxiv.org/abs/1512.02479,
  Sec. 4.2): :math:`R_j = \sum_i \frac{x_j w_{ij} - l_j w_{ij}^+ - h_j w_{ij}^-}
  {\sum_{j'} (x_{j'} w_{ij'} - l_{j'} w_{ij'}^+ - h_{j'} w_{ij'}^-)} R_i`; every term of the
  denominator is :math:`\ge 0`, so it conserves relevance.
* Average pooling of tokens, :math:`y = \frac1N \sum_j t_j`: the generic rule
  :math:`R_j = t_j R / \sum_{j'} t_{j'}` per feature.
* Two-operand layers, the residual add and the attention matrix products (paper Eqs. 4-8): each
  operand gets the generic rule :math:`R^u_j = \sum_i u_j \frac{\partial y_i}{\partial u_j}
  \frac{R_i}{y_i}`, then both are rescaled,
  :math:`\bar R^u = R^u \frac{|\sum R^u|}{|\sum R^u| + |\sum R^v|}
  \frac{\sum R}{\sum R^u}`, so that :math:`\sum \bar R^u + \sum \bar R^v = \sum R` exactly
  (the paper's fix for the add, whose generic-rule relevance can blow up or cancel). We write
  :math:`\frac{|s_u|}{s_u} = \operatorname{sign}(s_u)`, which stays finite when
  :math:`s_u \to 0`.

Every rule is made of differentiable tensor operations, so relevance maps built from them can
be back-propagated to the model parameters (``create_graph``); ``eps`` only guards divisions by
zero.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-9


def _sum(t: Tensor) -> Tensor:
    """Per-example total, broadcastable against ``t``."""
    return t.flatten(1).sum(1).view(-1, *([1] * (t.dim() - 1)))


def _stabilize(z: Tensor, eps: float = EPS) -> Tensor:
    """``z`` pushed away from zero by ``eps`` with its own sign (zero counts as positive)."""
    return z + eps * torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))


def linear_alpha1_beta0(x: Tensor, weight: Tensor, relevance: Tensor, eps: float = EPS) -> Tensor:
    """LRP-alpha1-beta0 through ``y = x @ weight.T (+ bias)``: relevance of ``x``."""
    wp, wn = weight.clamp(min=0), weight.clamp(max=0)
    xp, xn = x.clamp(min=0), x.clamp(max=0)
    z = F.linear(xp, wp) + F.linear(xn, wn)  # sum_j (x_j w_ij)^+ >= 0
    s = relevance / (z + eps)
    return xp * (s @ wp) + xn * (s @ wn)


def conv_alpha1_beta0(x: Tensor, conv: torch.nn.Conv2d, relevance: Tensor,
                      eps: float = EPS) -> Tensor:
    """LRP-alpha1-beta0 through a convolution (the patch embedding): relevance of ``x``."""
    kw = dict(stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=conv.groups)
    wp, wn = conv.weight.clamp(min=0), conv.weight.clamp(max=0)
    xp, xn = x.clamp(min=0), x.clamp(max=0)
    z = F.conv2d(xp, wp, **kw) + F.conv2d(xn, wn, **kw)
    s = relevance / (z + eps)
    size = x.shape
    back_p = torch.nn.grad.conv2d_input(size, wp, s, **kw)
    back_n = torch.nn.grad.conv2d_input(size, wn, s, **kw)
    return xp * back_p + xn * back_n


def conv_zb(x: Tensor, conv: torch.nn.Conv2d, relevance: Tensor, low: Tensor, high: Tensor,
            eps: float = EPS) -> Tensor:
    """The z^B rule through a convolution for inputs with ``low <= x <= high`` (broadcastable
    bounds, e.g. per-example ``(B, 1, 1, 1)``): relevance of ``x``."""
    kw = dict(stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=conv.groups)
    w, wp, wn = conv.weight, conv.weight.clamp(min=0), conv.weight.clamp(max=0)
    low, high = low.expand_as(x), high.expand_as(x)
    z = F.conv2d(x, w, **kw) - F.conv2d(low, wp, **kw) - F.conv2d(high, wn, **kw)
    s = relevance / (z + eps)
    size = x.shape
    return (x * torch.nn.grad.conv2d_input(size, w, s, **kw)
            - low * torch.nn.grad.conv2d_input(size, wp, s, **kw)
            - high * torch.nn.grad.conv2d_input(size, wn, s, **kw))


def mean_tokens(tokens: Tensor, relevance: Tensor, eps: float = EPS) -> Tensor:
    """Relevance of ``tokens`` ``(B, N, D)`` from that of their mean over ``N`` ``(B, D)``."""
    return tokens * (relevance / _stabilize(tokens.sum(1), eps)).unsqueeze(1)


def normalize_pair(ru: Tensor, rv: Tensor, relevance: Tensor, eps: float = EPS
                   ) -> Tuple[Tensor, Tensor]:
    """The paper's rescaling of two operands' relevance so that their totals add up to the
    total of ``relevance`` (Eqs. 7-8)."""
    su, sv, s = _sum(ru), _sum(rv), _sum(relevance)
    denom = su.abs() + sv.abs() + eps
    return ru * torch.sign(su) * s / denom, rv * torch.sign(sv) * s / denom


def add(u: Tensor, v: Tensor, relevance: Tensor, eps: float = EPS) -> Tuple[Tensor, Tensor]:
    """Relevance of the operands of ``y = u + v`` (the residual connections)."""
    s = relevance / _stabilize(u + v, eps)
    return normalize_pair(u * s, v * s, relevance, eps)


def matmul(a: Tensor, b: Tensor, relevance: Tensor, eps: float = EPS) -> Tuple[Tensor, Tensor]:
    """Relevance of the operands of ``y = a @ b`` (batched over leading dimensions).

    Generic rule: :math:`R^a_{ik} = a_{ik} \\sum_j b_{kj} R_{ij} / y_{ij}` and
    :math:`R^b_{kj} = b_{kj} \\sum_i a_{ik} R_{ij} / y_{ij}`, then :func:`normalize_pair`.
    """
    s = relevance / _stabilize(a @ b, eps)
    ra = a * (s @ b.transpose(-2, -1))
    rb = b * (a.transpose(-2, -1) @ s)
    return normalize_pair(ra, rb, relevance, eps)
