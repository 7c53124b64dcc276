"""Gini sparsity penalty (global feature-attribution sparsity)."""
from __future__ import annotations

import torch
from torch import Tensor


def gini(values: Tensor, eps: float = 1e-12, floor: float = 0.0) -> Tensor:
    r"""Gini coefficient of a nonnegative vector, :math:`G = \frac{1}{2}\,
    \frac{\mathrm{mean}_{i,j} |v_i - v_j|}{\mathrm{mean}_i v_i}`, in [0, 1 - 1/n].

    Computed in O(n log n) from the sorted values,
    :math:`G = \sum_i (2i - n - 1) v_{(i)} / (n \sum_i v_i)`, so it scales to image-sized vectors.
    With ``floor > 0`` the mean in the denominator becomes :math:`\mathrm{mean}_i v_i +`
    ``floor`` (see :func:`gini_penalty`).
    """
    v = values.flatten()
    n = v.numel()
    sorted_v, _ = torch.sort(v)
    ranks = torch.arange(1, n + 1, device=v.device, dtype=v.dtype)
    return ((2 * ranks - n - 1) * sorted_v).sum() / (n * (v.sum() + n * floor) + eps)


def gini_penalty(attributions: Tensor, mask: Tensor | None = None, floor: float = 0.0) -> Tensor:
    r"""Minus the Gini coefficient of the batch-mean absolute attribution per feature.

    :math:`\Omega(A) = -G(\bar a)`, :math:`\bar a_j = \frac{1}{B}\sum_b |A_{bj}|`. Minimizing it
    concentrates attribution on few features. Scale: dimensionless, in [-(1 - 1/n), 0], independent
    of batch size and attribution magnitude.

    Erion et al., "Improving performance of deep learning models with axiomatic attribution
    priors and expected gradients", Nature Machine Intelligence 2021 (the "sparsity prior").
    ``mask`` is ignored.

    **Large gradients at small attributions.** Being scale-invariant, :math:`G(c\,\bar a) =
    G(\bar a)`, its gradient scales as :math:`1 / |\bar a|`: a model whose attributions start
    near zero (e.g. a Fixup X-ResNet, whose classifier starts at zero) can get prior gradients
    far above the task's in the first steps. Two remedies:

    - ``floor`` (attribution units, per feature): the denominator's mean becomes
      :math:`\mathrm{mean}_j \bar a_j + \mathrm{floor}`, which bounds the gradient by about
      :math:`1 / \mathrm{floor}` and vanishes as the penalty for attributions far below the floor;
      for attributions far above it the penalty is the Gini coefficient. Choose it well below the
      typical trained attribution per feature (``Prior(..., penalty_options={"floor": 1e-4})``;
      Hydra: ``+prior.penalty_options.floor=1e-4``).
    - a weight warm-up, ``Prior(..., warmup_steps=N)``: the weight ramps up linearly over the
      first ``N`` steps, while the task loss makes the attributions grow.
    """
    if floor < 0:
        raise ValueError(f"gini floor must be >= 0, got {floor}")
    return -gini(attributions.abs().flatten(1).mean(0), floor=floor)
