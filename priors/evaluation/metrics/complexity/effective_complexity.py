"""Effective complexity (Nguyen and Martínez 2020)."""
from __future__ import annotations

from torch import Tensor

from .._common import pixel_map
from ..registry import register


@register("effective_complexity", family="complexity", higher_is_better=False,
          quantus="EffectiveComplexity")
def effective_complexity(attributions: Tensor, eps: float = 1e-5) -> Tensor:
    r"""Effective complexity: the number of features whose attribution magnitude exceeds
    ``eps``.

    Nguyen and Martínez, "On quantitative aspects of model interpretability", arXiv:2007.07584,
    2020 (Sec. 3.2): :math:`\mathrm{EC} = |\{i : |a_i| > \epsilon\}|`. Lower is simpler. As
    Quantus' ``EffectiveComplexity`` with ``abs=True`` and without normalisation; per example;
    images: pixel = sum over channels.
    """
    return (pixel_map(attributions).abs() > eps).sum(1).double()
