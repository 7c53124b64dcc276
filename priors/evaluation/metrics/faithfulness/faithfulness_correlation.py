"""Faithfulness correlation (Bhatt, Weller and Moura 2020)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .._common import check_attributions, generator, outputs, scored
from ...masking import _fill_like
from ..registry import register


def _pearson(a: Tensor, b: Tensor) -> Tensor:
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


@register("faithfulness_correlation", family="faithfulness", higher_is_better=True,
          needs=("fill",), quantus="FaithfulnessCorrelation")
def faithfulness_correlation(model, x: Tensor, attributions: Tensor, fill, target=None,
                             max_elements: Optional[int] = None, nr_runs: int = 100,
                             subset_size: int = 224, output: str = "logit",
                             seed: int = 0, subsets: Optional[Tensor] = None) -> Tensor:
    r"""Faithfulness correlation: Pearson correlation, over random feature subsets, between
    the attribution summed over a subset and the output drop when the subset is removed.

    Bhatt, Weller and Moura, "Evaluating and Aggregating Feature-based Model Explanations",
    IJCAI 2020 (Sec. 4.1, eq. for :math:`\mu_F`):

    .. math:: \mu_F = \operatorname{corr}_{S \in \binom{[d]}{|S|}}
              \Big(\sum_{i \in S} g_i,\; f(x) - f(x_{[x_S = \bar x_S]})\Big)

    ``nr_runs`` subsets of ``subset_size`` features per example (drawn without replacement from
    a generator seeded by ``seed``, or given as ``subsets`` ``(nr_runs, N, subset_size)`` of
    flat feature indices), removed features take ``fill``. Here a feature is one input value
    (as in Quantus), not a pixel. One correlation per example.
    """
    check_attributions(attributions, x)
    n, d = x.shape[0], x[0].numel()
    if subsets is None:
        if not 1 <= int(subset_size) <= d:
            raise ValueError(f"subset_size must be in [1, {d}], got {subset_size}")
        gen = generator(seed)
        subsets = torch.rand(int(nr_runs), n, d, generator=gen).argsort(-1)[..., :int(subset_size)]
    subsets = torch.as_tensor(subsets).long().to(x.device)
    if subsets.dim() != 3 or subsets.shape[1] != n:
        raise ValueError(f"subsets must be (nr_runs, {n}, subset_size), got "
                         f"{tuple(subsets.shape)}")
    runs = subsets.shape[0]
    f = scored(model, output)
    fx = outputs(f, x, target)
    a = attributions.detach().double().flatten(1)
    flat_x, flat_fill = x.flatten(1), _fill_like(fill, x).flatten(1)
    chunk = max(1, int(max_elements or 2 ** 24) // max(1, n * d))
    drops, sums = [], []
    for lo in range(0, runs, chunk):
        idx = subsets[lo:lo + chunk]  # (r, N, s)
        r = idx.shape[0]
        removed = torch.zeros(r, n, d, dtype=torch.bool, device=x.device)
        removed.scatter_(2, idx, True)
        xs = torch.where(removed, flat_fill.unsqueeze(0), flat_x.unsqueeze(0))
        tgt = target.repeat(r) if isinstance(target, Tensor) and target.dim() else target
        out = outputs(f, xs.reshape(r * n, *x.shape[1:]), tgt).view(r, n)
        drops.append(fx.unsqueeze(0) - out)
        sums.append(torch.gather(a.unsqueeze(0).expand(r, n, d), 2, idx).sum(2))
    return _pearson(torch.cat(sums).T, torch.cat(drops).T)
