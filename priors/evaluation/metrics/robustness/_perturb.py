"""Explanations of perturbed copies of a batch, for the robustness metrics."""
from __future__ import annotations

from typing import Callable, Iterator, Optional, Tuple

import torch
from torch import Tensor

from .._common import generator


def uniform_ball(x: Tensor, n_samples: int, radius: float, seed: int) -> Iterator[Tensor]:
    """``n_samples`` perturbations ``(N, *features)`` of uniform noise in
    ``[-radius, radius]`` per value (the L-inf ball of Yeh et al.'s experiments), one at a
    time so memory stays one batch."""
    gen = generator(seed)
    for _ in range(int(n_samples)):
        yield (torch.rand(x.shape, generator=gen, dtype=torch.float64) * 2 - 1).mul(radius).to(x)


def gaussian(x: Tensor, n_samples: int, std: float, seed: int) -> Iterator[Tensor]:
    gen = generator(seed)
    for _ in range(int(n_samples)):
        yield (torch.randn(x.shape, generator=gen, dtype=torch.float64) * std).to(x)


def explained(explain: Callable[..., Tensor], model, x: Tensor, target,
              noises: Iterator[Tensor], perturbations: Optional[Callable] = None
              ) -> Iterator[Tuple[Tensor, Tensor]]:
    """``(delta, attributions of x + delta)`` for each perturbation."""
    for delta in noises:
        xp = x + delta if perturbations is None else perturbations(x, delta)
        a = explain(model, xp, target)
        if a.shape != x.shape:
            raise ValueError(f"the method returned attributions of shape {tuple(a.shape)} for "
                             f"inputs {tuple(x.shape)}")
        yield xp - x, a.detach().double()
