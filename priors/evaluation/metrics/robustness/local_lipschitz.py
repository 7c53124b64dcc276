"""Local Lipschitz estimate (Alvarez-Melis and Jaakkola 2018)."""
from __future__ import annotations

import torch
from torch import Tensor

from .._common import check_attributions
from ..registry import register
from ._perturb import explained, gaussian


@register("local_lipschitz", family="robustness", higher_is_better=False,
          needs=("explain",), quantus="LocalLipschitzEstimate")
def local_lipschitz(model, x: Tensor, attributions: Tensor, explain, target=None,
                    n_samples: int = 10, std: float = 0.1, seed: int = 0) -> Tensor:
    r"""Local Lipschitz estimate of the explanation around each example.

    Alvarez-Melis and Jaakkola, "On the Robustness of Interpretability Methods", ICML Workshop
    on Human Interpretability 2018 (eq. 3):

    .. math:: \hat L(x) = \max_{x' \in B_\epsilon(x)}
              \frac{\|\Phi(x) - \Phi(x')\|_2}{\|x - x'\|_2}

    the maximum over ``n_samples`` Gaussian neighbours :math:`x' = x + \mathcal N(0,
    \mathrm{std}^2)` (seeded by ``seed``, as Quantus samples them).
    """
    check_attributions(attributions, x)
    a = attributions.detach().double().flatten(1)
    out = []
    for delta, ap in explained(explain, model, x, target, gaussian(x, n_samples, std, seed)):
        out.append((ap.flatten(1) - a).norm(dim=1) / delta.double().flatten(1).norm(dim=1))
    return torch.stack(out).max(0).values
