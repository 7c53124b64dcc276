"""Similarity of two attribution maps, per example, as in the sanity checks of Adebayo et al.

Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for Saliency Maps",
NeurIPS 2018, https://arxiv.org/abs/1810.03292, compare a map with the map of a randomized
model by Spearman rank correlation with and without absolute values, SSIM and the Pearson
correlation of histograms of oriented gradients (HOG). Here:

* ``spearman`` / ``spearman_abs``: :func:`scipy.stats.spearmanr` of the flattened maps (signed,
  or of their absolute values).
* ``ssim``: :func:`torchmetrics.functional.image.structural_similarity_index_measure` (Gaussian
  window, sigma 1.5; border cropped as in scikit-image) of the maps made comparable
  as Adebayo et al. do, by absolute value and the map's maximum, so each lies in [0, 1]
  (``data_range=1``); a pixel's value is the package's one pixel score,
  :func:`~priors.evaluation.masking.pixel_attribution` (the sum over channels; Adebayo et
  al.'s code sums absolute values instead: equal for one-channel maps, see there).
* ``hog``: :func:`scipy.stats.pearsonr` of :func:`skimage.feature.hog` descriptors of the same
  normalized maps.

SSIM and HOG need image maps ``(B, C, H, W)``; for other shapes they are NaN.
"""
from __future__ import annotations

from typing import Dict, Iterable, Sequence

import numpy as np
import torch
from scipy import stats
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

from .masking import pixel_attribution

METRICS = ("spearman", "spearman_abs", "ssim", "hog")


def _check(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"maps must have equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() < 2:
        raise ValueError(f"maps must be batched (B, *features), got shape {tuple(a.shape)}")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant map has no ranking
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def spearman(a: Tensor, b: Tensor, absolute: bool = False) -> np.ndarray:
    """Per-example Spearman rank correlation of the flattened maps ``(B,)``."""
    _check(a, b)
    x = a.detach().flatten(1).double().cpu().numpy()
    y = b.detach().flatten(1).double().cpu().numpy()
    if absolute:
        x, y = np.abs(x), np.abs(y)
    return np.array([_spearman(u, v) for u, v in zip(x, y)])


def normalize_maps(maps: Tensor) -> Tensor:
    """``(B, 1, H, W)`` maps in [0, 1]: the absolute value of each pixel's attribution
    (:func:`~priors.evaluation.masking.pixel_attribution`), over the map's maximum."""
    if maps.dim() != 4:
        raise ValueError(f"image maps must be (B, C, H, W), got shape {tuple(maps.shape)}")
    m = pixel_attribution(maps.detach()).abs().unsqueeze(1).double()
    peak = m.flatten(1).max(1).values.clamp_min(torch.finfo(m.dtype).tiny)
    return m / peak.view(-1, 1, 1, 1)


def ssim(a: Tensor, b: Tensor, sigma: float = 1.5, crop: bool = True) -> np.ndarray:
    """Per-example SSIM of the normalized maps ``(B,)`` (NaN for non-image maps).

    Gaussian window of standard deviation ``sigma`` truncated at 3.5 sigma (11 pixels for
    1.5). ``crop``: average the SSIM image over the pixels whose window lies inside the map,
    as scikit-image's ``structural_similarity`` does (maps too small to crop are averaged
    whole); ``False``: over the whole reflect-padded map, as torchmetrics does.
    """
    _check(a, b)
    if a.dim() != 4:
        return np.full(len(a), np.nan)
    x, y = normalize_maps(a), normalize_maps(b)
    _, full = structural_similarity_index_measure(x, y, gaussian_kernel=True, sigma=sigma,
                                                  data_range=1.0, return_full_image=True)
    pad = int(3.5 * sigma + 0.5)
    if crop and min(full.shape[-2:]) > 2 * pad:
        full = full[..., pad:-pad, pad:-pad]
    return full.flatten(1).mean(1).cpu().numpy().astype(float)


def hog_features(maps: Tensor, pixels_per_cell: Sequence[int] = (4, 4),
                 cells_per_block: Sequence[int] = (2, 2), orientations: int = 9) -> np.ndarray:
    """HOG descriptors ``(B, D)`` of the normalized maps (scikit-image)."""
    try:
        from skimage.feature import hog
    except ImportError as err:  # scikit-image is in the dev extra
        raise ImportError("the HOG similarity needs scikit-image: "
                          "pip install scikit-image") from err
    x = normalize_maps(maps)[:, 0].cpu().numpy()
    return np.stack([hog(img, orientations=orientations, pixels_per_cell=tuple(pixels_per_cell),
                         cells_per_block=tuple(cells_per_block), feature_vector=True)
                     for img in x])


def hog_pearson(a: Tensor, b: Tensor, **hog_kwargs) -> np.ndarray:
    """Per-example Pearson correlation of the maps' HOG descriptors (NaN for non-image maps)."""
    _check(a, b)
    if a.dim() != 4:
        return np.full(len(a), np.nan)
    fa, fb = hog_features(a, **hog_kwargs), hog_features(b, **hog_kwargs)
    out = []
    for u, v in zip(fa, fb):
        out.append(float("nan") if np.ptp(u) == 0 or np.ptp(v) == 0
                   else float(stats.pearsonr(u, v).statistic))
    return np.array(out)


def similarities(a: Tensor, b: Tensor, metrics: Iterable[str] = METRICS) -> Dict[str, np.ndarray]:
    """``{metric: per-example values}`` for the requested metrics (see :data:`METRICS`)."""
    funcs = {"spearman": lambda: spearman(a, b), "spearman_abs": lambda: spearman(a, b, True),
             "ssim": lambda: ssim(a, b), "hog": lambda: hog_pearson(a, b)}
    unknown = [m for m in metrics if m not in funcs]
    if unknown:
        raise ValueError(f"unknown similarity metric(s) {unknown}; choose from {METRICS}")
    return {m: funcs[m]() for m in metrics}
