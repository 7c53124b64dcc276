"""AUROC from the ranks of the scores (Mann-Whitney U), exact for any real-valued scores.

A float32 sigmoid of the logits rounds to 1.0 above ~16.6, so confident examples tie and the
AUROC drops (logits [18, 20, 25, -3, 30], labels [0, 1, 1, 0, 1]: 0.75 instead of 1.0). Ranking
the logits themselves keeps every distinct score distinct.
"""
from __future__ import annotations

import torch
from torch import Tensor


def auroc(scores: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve of ``scores`` (any monotone score, e.g. logits) for binary
    ``labels``: :math:`(R_+ - n_+(n_+ + 1)/2) / (n_+ n_-)` with mid-ranks for ties (Mann and
    Whitney 1947; Hanley and McNeil 1982), in float64. ``nan`` when one class is absent."""
    s = scores.detach().reshape(-1).double().cpu()
    y = labels.detach().reshape(-1).cpu() != 0
    if s.numel() != y.numel():
        raise ValueError(f"{s.numel()} scores for {y.numel()} labels")
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    sorted_s, order = s.sort()
    # Mid-ranks: every member of a run of equal scores gets the mean of the run's ranks.
    _, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True,
                                                  return_counts=True)
    ends = counts.cumsum(0).double()
    mid = ends - (counts.double() - 1) / 2
    ranks = torch.empty_like(s)
    ranks[order] = mid[inverse]
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))

