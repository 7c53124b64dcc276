"""The random-logit test (Sixt, Granz and Landgraf 2020)."""
from __future__ import annotations

import torch
from torch import Tensor

from ...similarity import similarities
from .._common import check_attributions, generator
from ..registry import register


@register("random_logit", family="randomisation", higher_is_better=False,
          needs=("explain",), quantus="RandomLogit")
def random_logit(model, x: Tensor, attributions: Tensor, explain, target=None,
                 num_classes=None, similarity: str = "ssim", seed: int = 0) -> Tensor:
    r"""Random-logit test: similarity of the explanation of the target class to that of a
    random other class.

    Sixt, Granz and Landgraf, "When Explanations Lie: Why Many Modified BP Attributions Fail",
    ICML 2020 (Sec. 5, "random logit"): a class-sensitive explanation differs between classes,
    so :math:`\mathrm{sim}(\Phi_t(x), \Phi_{t'}(x))` with :math:`t' \ne t` drawn uniformly
    (seeded by ``seed``) should be low. ``similarity``: ``ssim`` (as Quantus, on maps scaled
    as :func:`priors.evaluation.similarity.ssim` does), ``spearman`` or ``spearman_abs``.
    Multi-class models only.
    """
    check_attributions(attributions, x)
    with torch.no_grad():
        out = model(x)
    classes = int(num_classes or (out.shape[1] if out.dim() == 2 else 1))
    if classes < 2:
        raise ValueError("random_logit needs a multi-class model (a second class to explain)")
    t = out.argmax(1) if target is None else torch.as_tensor(target).expand(len(x)).to(out.device)
    shift = torch.randint(1, classes, (len(x),), generator=generator(seed)).to(t.device)
    other = (t + shift) % classes
    b = explain(model, x, other)
    if b.shape != x.shape:
        raise ValueError(f"the method returned attributions of shape {tuple(b.shape)} for "
                         f"inputs {tuple(x.shape)}")
    sim = similarities(attributions.detach().float().cpu(), b.detach().float().cpu(),
                       [similarity])[similarity]
    return torch.as_tensor(sim, dtype=torch.float64)
