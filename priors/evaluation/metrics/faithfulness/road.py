"""ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci and Kasneci 2022)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from ...masking import rank_features, ranks_from_order
from .._common import check_attributions, check_fractions, generator, grid_outputs
from ..registry import register
from .imputation import noisy_linear_imputation

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def road_curve(model, x: Tensor, attributions: Tensor, target=None,
               fractions: Sequence[float] = FRACTIONS, order: str = "morf",
               noise: float = 0.01, seed: int = 0, max_elements: Optional[int] = None
               ) -> Tensor:
    """``(K, N)``: 1 where the model still predicts example ``n``'s target class after the
    top (``morf``) or bottom (``lerf``) ``fractions[k]`` of its pixels were removed by noisy
    linear imputation, else 0. Single-logit models: the sign of the logit is compared with the
    clean input's. The count removed is ``floor(fraction * H * W)``, as in Quantus."""
    check_attributions(attributions, x)
    if x.dim() != 4:
        raise ValueError(f"ROAD imputes image pixels: inputs must be (N, C, H, W), got "
                         f"{tuple(x.shape)}")
    if order not in ("morf", "lerf"):
        raise ValueError(f"order must be 'morf' or 'lerf', got {order!r}")
    grid = check_fractions(fractions)
    n, _, h, w = x.shape
    ranked, _ = rank_features(attributions, "positive", tie_seed=None)
    if order == "lerf":
        ranked = ranked.flip(1)
    ranks = ranks_from_order(ranked)
    counts = torch.floor(grid * h * w + 1e-9).long()
    gen = generator(seed)
    with torch.no_grad():
        clean = model(x)
    single = clean.dim() == 1 or clean.shape[-1] == 1
    per = len(grid) * x[0].numel() * 8  # float64 CG state per example and fraction
    chunk = max(1, int(max_elements or 2 ** 24) // max(1, per))
    out = []
    for lo in range(0, n, chunk):
        rows = slice(lo, min(lo + chunk, n))
        b = rows.stop - rows.start
        removed = ranks[rows].unsqueeze(0) < counts.view(-1, 1, 1)  # (K, b, HW)
        xs = x[rows].unsqueeze(0).expand(len(grid), *x[rows].shape).reshape(-1, *x.shape[1:])
        imputed = noisy_linear_imputation(xs, removed.reshape(-1, h, w), noise, gen)
        logits = _logits(model, imputed.view(len(grid), b, *x.shape[1:]))
        if single:
            ok = (logits.reshape(len(grid), b) > 0) == (clean[rows].reshape(1, b) > 0)
        else:
            tgt = target[rows] if isinstance(target, Tensor) and target.dim() else target
            t = clean[rows].argmax(1) if tgt is None else torch.as_tensor(tgt).expand(b)
            ok = logits.argmax(-1) == t.to(logits.device).view(1, b)
        out.append(ok.double())
    return torch.cat(out, 1)


@torch.no_grad()
def _logits(model, xs: Tensor) -> Tensor:
    k, b = xs.shape[:2]
    out = model(xs.reshape(k * b, *xs.shape[2:]))
    return out.view(k, b, *out.shape[1:])


def _score(curve: Tensor, fractions) -> Tensor:
    grid = check_fractions(fractions)
    if len(grid) == 1:
        return curve[0]
    return torch.trapezoid(curve, grid.to(curve), dim=0) / float(grid[-1] - grid[0])


_DOC = r"""ROAD {which}: accuracy on the target class after removing the {what} pixels by noisy
    linear imputation, averaged over the removal fractions.

    Rong, Leemann, Borisov, Kasneci and Kasneci, "A Consistent and Efficient Evaluation
    Strategy for Attribution Methods", ICML 2022 (Sec. 4, Alg. 1): a removed pixel takes the
    8-neighbour weighted mean (1/6 direct, 1/12 diagonal) of the others, solved jointly, plus
    :math:`\mathcal N(0, \sigma^2)` noise (``noise``), so the removal pattern carries no
    class information and no retraining is needed. Per example the score is the mean of the
    0/1 curve over ``fractions`` (trapezoid rule, divided by the fraction range); the curve
    itself is :func:`road_curve`. {better}
    """


def road_morf(model, x: Tensor, attributions: Tensor, target=None,
              max_elements: Optional[int] = None, fractions: Sequence[float] = FRACTIONS,
              noise: float = 0.01, seed: int = 0) -> Tensor:
    return _score(road_curve(model, x, attributions, target, fractions, "morf", noise, seed,
                             max_elements), fractions)


def road_lerf(model, x: Tensor, attributions: Tensor, target=None,
              max_elements: Optional[int] = None, fractions: Sequence[float] = FRACTIONS,
              noise: float = 0.01, seed: int = 0) -> Tensor:
    return _score(road_curve(model, x, attributions, target, fractions, "lerf", noise, seed,
                             max_elements), fractions)


road_morf.__doc__ = _DOC.format(which="MoRF", what="most relevant",
                                better="Lower is better (accuracy falls fast).")
road_lerf.__doc__ = _DOC.format(which="LeRF", what="least relevant",
                                better="Higher is better (accuracy survives).")
register("road_morf", family="faithfulness", higher_is_better=False, quantus="ROAD")(road_morf)
register("road_lerf", family="faithfulness", higher_is_better=True)(road_lerf)
