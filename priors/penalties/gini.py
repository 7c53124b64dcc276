"""Gini sparsity penalty (global feature-attribution sparsity)."""
from __future__ import annotations

import torch
from torch import Tensor


def gini(values: Tensor, eps: float = 1e-12) -> Tensor:
    r"""Gini coefficient of a nonnegative vector, :math:`G = \frac{1}{2}\,
    \frac{\mathrm{mean}_{i,j} |v_i - v_j|}{\mathrm{mean}_i v_i}`, in [0, 1 - 1/n].

    Computed in O(n log n) from the sorted values,
    :math:`G = \sum_i (2i - n - 1) v_{(i)} / (n \sum_i v_i)`, so it scales to image-sized vectors.
    """
    v = values.flatten()
    n = v.numel()
    sorted_v, _ = torch.sort(v)
    ranks = torch.arange(1, n + 1, device=v.device, dtype=v.dtype)
    return ((2 * ranks - n - 1) * sorted_v).sum() / (n * v.sum() + eps)


def gini_penalty(attributions: Tensor, mask: Tensor | None = None) -> Tensor:
    r"""Minus the Gini coefficient of the batch-mean absolute attribution per feature.

    :math:`\Omega(A) = -G(\bar a)`, :math:`\bar a_j = \frac{1}{B}\sum_b |A_{bj}|`. Minimizing it
    concentrates attribution on few features. Scale: dimensionless, in [-(1 - 1/n), 0], independent
    of batch size and attribution magnitude.

    Erion et al., "Improving performance of deep learning models with axiomatic attribution
    priors and expected gradients", Nature Machine Intelligence 2021 (the "sparsity prior").
    ``mask`` is ignored.
    """
    return -gini(attributions.abs().flatten(1).mean(0))
