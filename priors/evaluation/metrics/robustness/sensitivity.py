"""Max-sensitivity and average sensitivity (Yeh et al. 2019)."""
from __future__ import annotations

import torch
from torch import Tensor

from .._common import check_attributions
from ..registry import register
from ._perturb import explained, uniform_ball


def _ratios(model, x, attributions, target, explain, n_samples, radius, seed):
    check_attributions(attributions, x)
    a = attributions.detach().double().flatten(1)
    norm = a.norm(dim=1)
    out = []
    for _, ap in explained(explain, model, x, target, uniform_ball(x, n_samples, radius, seed)):
        out.append((ap.flatten(1) - a).norm(dim=1) / norm)
    return torch.stack(out)  # (n_samples, N)


@register("max_sensitivity", family="robustness", higher_is_better=False,
          needs=("explain",), quantus="MaxSensitivity")
def max_sensitivity(model, x: Tensor, attributions: Tensor, explain, target=None,
                    n_samples: int = 10, radius: float = 0.2, seed: int = 0) -> Tensor:
    r"""Max-sensitivity: the largest relative change of the explanation within a ball.

    Yeh, Hsieh, Suggala, Inouye and Ravikumar, "On the (In)fidelity and Sensitivity of
    Explanations", NeurIPS 2019 (Def. 3.1, eq. 4):

    .. math:: \mathrm{SENS}_{\max}(\Phi, f, x, r) = \max_{\|y - x\| \le r}
              \frac{\|\Phi(f, y) - \Phi(f, x)\|_2}{\|\Phi(f, x)\|_2}

    estimated by Monte Carlo over ``n_samples`` points drawn uniformly from the L-inf ball of
    ``radius`` (seeded by ``seed``), normalised by :math:`\|\Phi(x)\|` as Quantus does. The
    method is re-run on each perturbed batch (``explain``).
    """
    return _ratios(model, x, attributions, target, explain, n_samples, radius, seed).max(0).values


@register("avg_sensitivity", family="robustness", higher_is_better=False,
          needs=("explain",), quantus="AvgSensitivity")
def avg_sensitivity(model, x: Tensor, attributions: Tensor, explain, target=None,
                    n_samples: int = 10, radius: float = 0.2, seed: int = 0) -> Tensor:
    r"""Average sensitivity: the mean relative change of the explanation within a ball.

    Yeh et al., NeurIPS 2019 (Sec. 3, average sensitivity
    :math:`\int_{\|y - x\| \le r} \|\Phi(y) - \Phi(x)\| \, dy`): as :func:`max_sensitivity`
    with the mean over the ``n_samples`` draws instead of the maximum.
    """
    return _ratios(model, x, attributions, target, explain, n_samples, radius, seed).mean(0)
