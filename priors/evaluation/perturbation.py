"""Positive and negative patch-perturbation tests of image attributions (e.g. for ViTs).

Chefer, Gur and Wolf, "Transformer Interpretability Beyond Attention Visualization", CVPR 2021,
https://arxiv.org/abs/2012.09838, Sec. 5: patches are removed in steps of 10% of the image,
*positive* perturbation from the most to the least relevant (a faithful map makes accuracy drop
fast: lower area is better) and *negative* perturbation from the least to the most relevant
(accuracy should hold: higher area is better); the score is the area under the accuracy curve.

Here a patch's relevance is the mean of the channel-summed attribution over its pixels (for the
ViT methods, whose maps are upsampled patch grids, this recovers the grid), removed patches are
set to ``baseline`` (0: the background of the digit data; use the data mean for natural
images) and ties are broken by patch index.

The area is reported as published (Chefer et al.'s evaluation): ``positive_auc`` /
``negative_auc`` are the trapezoidal area under the accuracy curve over the removed fractions
``0, 0.1, ..., 0.9`` *including* the clean accuracy at 0 %, times 100 (at most 90). The mean
accuracy along the curve (that area divided by the fractions' range, in [0, 1]) is kept, under
its own name: ``positive_mean_accuracy`` / ``negative_mean_accuracy``. The clean accuracy is
reported beside them. :func:`perturbation_protocol` runs both explained classes of the paper:
the predicted class and the target (label) class.
"""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from scipy.integrate import trapezoid
from torch import Tensor

from ..attributions import get_method

Size = Union[int, Sequence[int]]
FRACTIONS = tuple(round(0.1 * i, 1) for i in range(10))


class PerturbationResult(NamedTuple):
    fractions: np.ndarray  # always starting at 0 (the clean accuracy)
    positive: np.ndarray  # accuracy after removing the most relevant patches first
    negative: np.ndarray  # accuracy after removing the least relevant patches first
    positive_auc: float  # Chefer et al.: trapezoid area over the fractions x 100; lower is better
    negative_auc: float  # the same for negative perturbation; higher is better
    positive_mean_accuracy: float  # area / fraction range: mean accuracy along the curve
    negative_mean_accuracy: float
    clean_accuracy: float  # accuracy on the unperturbed inputs


def _pair(size: Size) -> tuple:
    return (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)


def patch_scores(attributions: Tensor, patch_size: Size) -> Tensor:
    """Mean channel-summed attribution per patch, ``(B, rows * cols)`` in row-major order."""
    if attributions.dim() != 4:
        raise ValueError("patch_scores needs image attributions (B, C, H, W); got shape "
                         f"{tuple(attributions.shape)}")
    ph, pw = _pair(patch_size)
    h, w = attributions.shape[-2:]
    if h % ph or w % pw:
        raise ValueError(f"patch size {(ph, pw)} must divide the image size {(h, w)}")
    return F.avg_pool2d(attributions.sum(1, keepdim=True), (ph, pw)).flatten(1)


def remove_patches(x: Tensor, scores: Tensor, fraction: float, patch_size: Size,
                   most_relevant: bool, baseline: float = 0.0) -> Tensor:
    """Copy of ``x`` with ``round(fraction * patches)`` patches set to ``baseline``: the highest
    scored first (``most_relevant=True``) or the lowest."""
    ph, pw = _pair(patch_size)
    b, n = scores.shape
    k = int(round(fraction * n))
    if k == 0:
        return x
    # Stable sort on the (negated) scores: equal scores are removed in patch order.
    order = torch.sort(-scores if most_relevant else scores, dim=1, stable=True).indices
    removed = torch.zeros(b, n, dtype=torch.bool, device=x.device)
    removed.scatter_(1, order[:, :k], True)
    rows, cols = x.shape[-2] // ph, x.shape[-1] // pw
    mask = removed.view(b, 1, rows, cols).repeat_interleave(ph, 2).repeat_interleave(pw, 3)
    return torch.where(mask, torch.full_like(x, baseline), x)


@torch.no_grad()
def _accuracy(model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, batch_size: int) -> float:
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    return correct / len(x)


def perturbation_test(model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor,
                      attributions: Union[str, Tensor], patch_size: Size,
                      target: Optional[Tensor] = None, fractions: Sequence[float] = FRACTIONS,
                      baseline: float = 0.0, batch_size: int = 256,
                      **hparams) -> PerturbationResult:
    """Positive and negative perturbation curves and areas of one attribution method.

    Args:
        model: classifier ``(B, C, H, W) -> (B, classes)`` (put it in eval mode).
        x, y: images and labels; accuracy is measured against ``y``.
        attributions: a registered method name (computed here, in batches of ``batch_size``,
            for ``target``) or precomputed attributions shaped like ``x``.
        patch_size: side (or pair) of the removed patches; must divide the image size.
        target: class explained per example (default ``y``; the paper also uses the
            prediction).
        fractions: removed fractions, increasing (default 0, 0.1, ..., 0.9).
        baseline: value of removed pixels.
        **hparams: the method's hyperparameters.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and of equal length, got {len(x)} and "
                         f"{len(y)}")
    fr = np.asarray(fractions, dtype=float)
    if fr.ndim != 1 or len(fr) < 2 or np.any(np.diff(fr) <= 0) or fr[0] < 0 or fr[-1] > 1:
        raise ValueError(f"fractions must increase within [0, 1], at least two; got {fractions}")
    if fr[0] > 0:  # the published area includes the clean accuracy at 0 % removed
        fr = np.concatenate([[0.0], fr])
    target = y if target is None else target
    if isinstance(attributions, str):
        method = get_method(attributions)
        attributions = torch.cat([
            method(model, x[i:i + batch_size], target[i:i + batch_size], **hparams).detach()
            for i in range(0, len(x), batch_size)])
    if attributions.shape != x.shape:
        raise ValueError(f"attributions {tuple(attributions.shape)} must be shaped like the "
                         f"inputs {tuple(x.shape)}")
    scores = patch_scores(attributions, patch_size)
    curves: Dict[bool, np.ndarray] = {}
    for most_relevant in (True, False):
        curves[most_relevant] = np.array([
            _accuracy(model, remove_patches(x, scores, f, patch_size, most_relevant, baseline),
                      y, batch_size) for f in fr])
    span = fr[-1] - fr[0]
    pos, neg = float(trapezoid(curves[True], fr)), float(trapezoid(curves[False], fr))
    return PerturbationResult(fr, curves[True], curves[False], 100 * pos, 100 * neg, pos / span,
                              neg / span, float(curves[True][0]))


def perturbation_protocol(model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, method: str,
                          patch_size: Size, fractions: Sequence[float] = FRACTIONS,
                          baseline: float = 0.0, batch_size: int = 256, **hparams
                          ) -> "pd.DataFrame":
    """Chefer et al.'s perturbation test as published, for the predicted and the target class:
    one row per explained class (``pred``, ``target``) with ``positive_auc``,
    ``negative_auc`` (x 100, clean accuracy at 0 % included), the mean-accuracy figures and
    ``clean_accuracy``."""
    import pandas as pd

    with torch.no_grad():
        pred = torch.cat([model(x[i:i + batch_size]).argmax(1)
                          for i in range(0, len(x), batch_size)])
    rows = []
    for explained, target in (("pred", pred), ("target", y)):
        res = perturbation_test(model, x, y, method, patch_size, target, fractions, baseline,
                                batch_size, **hparams)
        rows.append({"method": method, "explained_class": explained,
                     "positive_auc": res.positive_auc, "negative_auc": res.negative_auc,
                     "positive_mean_accuracy": res.positive_mean_accuracy,
                     "negative_mean_accuracy": res.negative_mean_accuracy,
                     "clean_accuracy": res.clean_accuracy})
    return pd.DataFrame(rows)
