"""Rank features by attribution and mask all but (or only) the top-ranked ones.

The building blocks of the keep/remove metrics (Lundberg et al., Nature MI 2020) and of
retraining benchmarks such as ROAR (Hooker et al., NeurIPS 2019):

* :func:`rank_features` orders the features of each example by attribution (images: one
  score per pixel, :func:`pixel_attribution`, so whole pixels are kept or removed); the one
  ranking of the package, used by keep/remove, ROAR/KAR (:mod:`~priors.evaluation.roar_data`)
  and, for the maps they compare, the sanity checks (:func:`~priors.evaluation.similarity.
  normalize_maps`);
* :func:`mask_fraction` keeps (or removes) the top ``fraction`` of each example's ranking and
  fills the other (or those) features with a replacement value;
* :func:`masked_grid` does the same for a whole grid of fractions at once, as one tensor
  ``(fractions, batch, *features)``: vectorized over examples and fractions;
* :func:`iter_masked` walks a dataset-sized input through :func:`masked_grid` in chunks of
  examples so that at most ``max_elements`` masked values exist at a time;
* :func:`feature_mean` and :func:`gaussian_blur` build the replacement values (the training
  mean for tabular data, the blurred image for images).
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ..attributions.baselines import gaussian_blur  # noqa: F401 (the image fill, public here)

MODES = ("positive", "negative", "absolute")
Fill = Union[float, Tensor]


def geometric_fractions(start: float = 0.01, stop: float = 1.0, num: int = 16) -> np.ndarray:
    """``num`` fractions spaced geometrically from ``start`` to ``stop`` (both included)."""
    if not 0 < start <= stop <= 1:
        raise ValueError(f"fractions need 0 < start <= stop <= 1, got start={start}, stop={stop}")
    if int(num) < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    return np.geomspace(start, stop, int(num))


def is_image_batch(x: Tensor) -> bool:
    """``(B, C, H, W)`` inputs are images: their pixels, not their channels, are the features."""
    return x.dim() == 4


def pixel_attribution(attr: Tensor) -> Tensor:
    """A pixel's attribution, ``(B, C, H, W) -> (B, H, W)``: the sum over its channels.

    The one pixel score of the package (keep/remove, ROAR/KAR, the sanity checks' maps), and
    why the sum and not ``|a|`` summed over channels: a metric masks whole pixels, and the
    change of the output when a pixel is replaced is, to first order, the sum of its channels'
    attributions (for complete methods such as IG, EG and X-Gradient these sums add up to
    ``f(x) - f(baseline)``), so channels of opposite sign cancel. ``|a|`` summed over channels
    (what Adebayo et al.'s visualizations and the earlier ROAR code used) would rank such a
    pixel high although removing it changes little. The two agree for one-channel images
    (digits, MNIST) and for same-signed channels; they differ for RGB maps whose channels
    disagree in sign.
    """
    if attr.dim() != 4:
        raise ValueError(f"pixel scores need (B, C, H, W) attributions, got {tuple(attr.shape)}")
    return attr.sum(1)


def feature_scores(attr: Tensor, mode: str = "absolute", pixel_level: Optional[bool] = None
                   ) -> Tensor:
    """Per-example feature scores ``(B, F)``, higher = ranked first.

    ``mode``: ``positive`` (the attribution itself), ``negative`` (its negation) or
    ``absolute`` (its magnitude). With ``pixel_level`` (default: for 4-D inputs) the score is
    the pixel's :func:`pixel_attribution` (the sum over channels), so a pixel's channels share
    one score; the sign of that sum decides for ``positive``/``negative`` and its magnitude for
    ``absolute``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if attr.dim() < 2:
        raise ValueError(f"attributions must be batched (B, *features), got {tuple(attr.shape)}")
    if pixel_level is None:
        pixel_level = is_image_batch(attr)
    if pixel_level:
        attr = pixel_attribution(attr)
    # float64 stays float64 (a float32 cast ties 1 + 1e-9 with 1); half precision is widened.
    scores = attr.flatten(1)
    if scores.dtype not in (torch.float32, torch.float64):
        scores = scores.float()
    if mode == "negative":
        return -scores
    if mode == "absolute":
        return scores.abs()
    return scores


def rank_features(attr: Tensor, mode: str = "absolute", pixel_level: Optional[bool] = None,
                  tie_seed: Optional[int] = 0) -> Tuple[Tensor, Tensor]:
    """Order the features of every example by attribution.

    Returns ``(order, eligible)``: ``order`` ``(B, F)`` holds feature indices (flat over
    ``features``, or over ``H * W`` pixels with ``pixel_level``), best first; ``eligible``
    ``(B,)`` counts the features whose score is ``>= 0`` (for ``positive``/``negative``, the
    features with that sign of attribution; every feature for ``absolute``). As in Lundberg et
    al.'s keep-positive/negative masks, only eligible features are ever kept: see ``limit`` of
    :func:`mask_fraction`.

    Ties (e.g. many zero attributions) are broken by a fixed random order of the features drawn
    from ``tie_seed`` (``None``: by index), so that constant attributions are no ranking at all.
    """
    scores = feature_scores(attr, mode, pixel_level)
    return rank_scores(scores, tie_seed), (scores >= 0).sum(1)


def rank_scores(scores: Tensor, tie_seed: Optional[int] = 0) -> Tensor:
    """Feature indices ``(B, F)`` of per-example ``scores`` ``(B, F)``, highest first; ties
    broken by a fixed random order of the features drawn from ``tie_seed`` (``None``: by
    index). :func:`rank_features` for scores computed already (e.g. ROAR's cached ones)."""
    n = scores.shape[1]
    if tie_seed is not None:
        gen = torch.Generator().manual_seed(int(tie_seed))
        jitter = torch.randperm(n, generator=gen).to(scores.device)
    else:
        jitter = torch.arange(n, device=scores.device)
    # Sort by score, then by the jitter: a stable sort on the jitter order keeps ties in it.
    perm = jitter.argsort()
    return perm[scores[:, perm].argsort(dim=1, descending=True, stable=True)]


def ranks_from_order(order: Tensor) -> Tensor:
    """Inverse permutation per row: ``ranks[b, f]`` is the position of feature ``f``."""
    ranks = torch.empty_like(order)
    positions = torch.arange(order.shape[1], device=order.device).expand_as(order)
    return ranks.scatter_(1, order, positions)


def fraction_counts(fractions: Sequence[float] | Tensor, n_features: int,
                    limit: Optional[Tensor] = None, batch: Optional[int] = None) -> Tensor:
    """Number of top-ranked features per fraction and example, ``(K, B)``: ``round(f * F)``,
    capped by ``limit`` ``(B,)`` when given (``batch`` sets ``B`` without a limit)."""
    frac = torch.as_tensor(np.asarray(fractions, dtype=np.float64))
    if frac.dim() != 1 or len(frac) == 0 or bool(((frac < 0) | (frac > 1)).any()):
        raise ValueError(f"fractions must be a non-empty 1-D sequence in [0, 1], got {fractions}")
    counts = torch.round(frac * n_features).long()
    if limit is None:
        return counts.view(-1, 1).expand(-1, 1 if batch is None else batch)
    return torch.minimum(counts.view(-1, 1), limit.view(1, -1).long().cpu())


def _expand_mask(mask: Tensor, x: Tensor, pixel_level: bool) -> Tensor:
    """Masks ``(..., B, F)`` over flat features/pixels to ``(..., B, *x.shape[1:])``."""
    lead = mask.shape[:-1]
    if pixel_level:
        _, _, h, w = x.shape
        return mask.view(*lead, 1, h, w).expand(*lead, x.shape[1], h, w)
    return mask.view(*lead, *x.shape[1:])


def _fill_like(fill: Fill, x: Tensor) -> Tensor:
    if not isinstance(fill, Tensor):
        return torch.full_like(x, float(fill))
    fill = fill.to(device=x.device, dtype=x.dtype)
    if fill.shape == x.shape[1:]:
        fill = fill.unsqueeze(0)
    try:
        return fill.expand_as(x)
    except RuntimeError:
        raise ValueError(f"fill of shape {tuple(fill.shape)} fits neither one example "
                         f"{tuple(x.shape[1:])} nor the batch {tuple(x.shape)}") from None


def masked_grid(x: Tensor, order: Tensor, fractions: Sequence[float], fill: Fill,
                keep: bool = True, limit: Optional[Tensor] = None,
                pixel_level: Optional[bool] = None) -> Tensor:
    """Masked copies of ``x`` for every fraction: ``(K, B, *features)``.

    With ``keep`` the top ``round(fraction * F)`` features of each example's ``order`` (capped
    by ``limit`` ``(B,)``, see :func:`rank_features`) keep their value and every other feature
    takes ``fill``; without ``keep`` the top ones take ``fill`` and the rest keep their value.
    ``fill`` is a scalar, one example's shape (e.g. the training mean) or ``x``'s shape (e.g.
    each image blurred). ``order`` indexes flat features, or pixels with ``pixel_level``
    (default: for 4-D ``x``). One tensor operation for all examples and fractions.
    """
    if pixel_level is None:
        pixel_level = is_image_batch(x)
    n = x[0, 0].numel() if pixel_level else x[0].numel()
    if order.shape != (x.shape[0], n):
        raise ValueError(f"order must be ({x.shape[0]}, {n}) for inputs {tuple(x.shape)} "
                         f"(pixel_level={pixel_level}), got {tuple(order.shape)}")
    counts = fraction_counts(fractions, n, limit, x.shape[0]).to(x.device)
    ranks = ranks_from_order(order.to(x.device))
    top = ranks.unsqueeze(0) < counts.unsqueeze(-1)  # (K, B, F): among the top count
    chosen = _expand_mask(top if keep else ~top, x, pixel_level)
    return torch.where(chosen, x.unsqueeze(0), _fill_like(fill, x).unsqueeze(0))


def mask_fraction(x: Tensor, order: Tensor, fraction: float, fill: Fill, keep: bool = True,
                  limit: Optional[Tensor] = None, pixel_level: Optional[bool] = None) -> Tensor:
    """``x`` with the top ``fraction`` of each example's ranking kept (``keep=True``; the rest
    takes ``fill``) or removed (``keep=False``; those take ``fill``). Shaped like ``x``."""
    return masked_grid(x, order, [fraction], fill, keep, limit, pixel_level)[0]


def iter_masked(x: Tensor, order: Tensor, fractions: Sequence[float], fill: Fill,
                keep: bool = True, limit: Optional[Tensor] = None,
                pixel_level: Optional[bool] = None, max_elements: int = 2 ** 24
                ) -> Iterator[Tuple[slice, Tensor]]:
    """:func:`masked_grid` over chunks of examples: yields ``(examples, masked)`` with
    ``masked`` ``(K, b, *features)`` for ``x[examples]``; each chunk holds at most
    ``max_elements`` values (at least one example)."""
    per_example = len(fractions) * x[0].numel()
    chunk = max(1, int(max_elements) // max(1, per_example))
    full_fill = isinstance(fill, Tensor) and fill.dim() == x.dim() and fill.shape[0] == x.shape[0]
    for start in range(0, x.shape[0], chunk):
        rows = slice(start, min(start + chunk, x.shape[0]))
        yield rows, masked_grid(x[rows], order[rows], fractions,
                                fill[rows] if full_fill else fill, keep,
                                None if limit is None else limit[rows], pixel_level)


def feature_mean(x: Tensor) -> Tensor:
    """Mean over the examples of a training set ``(N, *features)``: the tabular fill value."""
    return x.float().mean(0).to(x.dtype)
