"""Penalties on attributions: ``penalty(attributions, mask=None) -> scalar``."""
from typing import Callable, Dict

from torch import Tensor

from .gini import gini, gini_penalty
from .l1 import l1_penalty
from .masked_l2 import masked_l2_penalty
from .rationale_alignment import rationale_alignment_penalty
from .total_variation import total_variation_penalty

Penalty = Callable[..., Tensor]

PENALTIES: Dict[str, Penalty] = {
    "gini": gini_penalty,
    "l1": l1_penalty,
    "tv": total_variation_penalty,
    "masked_l2": masked_l2_penalty,
    "rationale_alignment": rationale_alignment_penalty,
}


def get_penalty(name: str | Penalty) -> Penalty:
    """Look a penalty up by name (``gini``, ``l1``, ``tv``, ``masked_l2``) or pass a callable."""
    if callable(name):
        return name
    try:
        return PENALTIES[name]
    except KeyError:
        raise ValueError(f"unknown penalty {name!r}; choose one of {sorted(PENALTIES)}") from None


__all__ = ["PENALTIES", "get_penalty", "gini", "gini_penalty", "l1_penalty",
           "masked_l2_penalty", "rationale_alignment_penalty", "total_variation_penalty"]
