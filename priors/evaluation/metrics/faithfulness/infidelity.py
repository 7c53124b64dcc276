"""Infidelity (Yeh, Hsieh, Suggala, Inouye and Ravikumar 2019)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .._common import check_attributions, generator, outputs
from ..registry import register


@register("infidelity", family="faithfulness", higher_is_better=False)
def infidelity(model, x: Tensor, attributions: Tensor, target=None,
               max_elements: Optional[int] = None, n_samples: int = 64,
               noise_std: float = 0.1, normalize: bool = True, seed: int = 0) -> Tensor:
    r"""Infidelity: expected squared error between the attribution's linear prediction of an
    output change and the change itself, under random perturbations :math:`I`.

    Yeh, Hsieh, Suggala, Inouye and Ravikumar, "On the (In)fidelity and Sensitivity of
    Explanations", NeurIPS 2019 (Def. 2.1, eq. 2):

    .. math:: \mathrm{INFD}(\Phi, f, x) = \mathbb{E}_{I \sim \mu_I}
              \big[(I^\top \Phi(f, x) - (f(x) - f(x - I)))^2\big]

    with :math:`I \sim \mathcal N(0, \sigma^2)` per input value (``noise_std``), ``n_samples``
    draws per example from a generator seeded by ``seed``. ``normalize`` scales the
    attribution by the optimal :math:`\beta = \mathbb{E}[I^\top\Phi\,\Delta f] /
    \mathbb{E}[(I^\top\Phi)^2]` first (as Yeh et al.'s released code and Captum do), so the
    score does not depend on the attribution's scale. 0 for the gradient of a linear model.
    """
    check_attributions(attributions, x)
    n, d = x.shape[0], x[0].numel()
    k = int(n_samples)
    fx = outputs(model, x, target)
    a = attributions.detach().double().flatten(1)
    gen = generator(seed)
    chunk = max(1, int(max_elements or 2 ** 24) // max(1, n * d))
    dots, deltas = [], []
    for lo in range(0, k, chunk):
        r = min(chunk, k - lo)
        noise = torch.randn(r, n, d, generator=gen, dtype=torch.float64).to(x.device) * noise_std
        xs = (x.flatten(1).unsqueeze(0) - noise.to(x.dtype)).reshape(r * n, *x.shape[1:])
        tgt = target.repeat(r) if isinstance(target, Tensor) and target.dim() else target
        deltas.append(fx.unsqueeze(0) - outputs(model, xs, tgt).view(r, n))
        dots.append((noise * a.unsqueeze(0)).sum(2))
    dot, delta = torch.cat(dots), torch.cat(deltas)  # (k, N)
    if normalize:
        beta = (dot * delta).mean(0) / (dot * dot).mean(0).clamp_min(1e-300)
        dot = dot * beta
    return ((dot - delta) ** 2).mean(0)
