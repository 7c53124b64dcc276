"""The axiom checks of :mod:`priors.evaluation.axioms` as registered metrics.

Each check runs the methods itself (``methods=`` specs) and returns a DataFrame with a
``holds`` column; the direction refers to the check's error column (lower is better), or to
``satisfied`` for sensitivity.
"""
from __future__ import annotations

import functools
from typing import Callable

from ... import axioms
from ..registry import register

_SUNDARARAJAN = ("Sundararajan, Taly and Yan, \"Axiomatic Attribution for Deep Networks\", "
                 "ICML 2017 (Sec. 2)")
_HESSE = ("Hesse, Schaub-Meyer and Roth, \"Fast Axiomatic Attribution for Neural Networks\", "
          "NeurIPS 2021 (Sec. 3, Prop. 3.3)")


def _cited(fn: Callable, title: str, citation: str) -> Callable:
    @functools.wraps(fn)
    def check(*args, **kwargs):
        return fn(*args, **kwargs)

    check.__doc__ = f"{title}\n\n    {citation}. {fn.__doc__ or ''}"
    return check


completeness = register("completeness", family="axiomatic", higher_is_better=False,
                        kind="check", quantus="Completeness")(_cited(
    axioms.completeness, r"Completeness: :math:`\sum_i a_i = f(x) - f(x')`.",
    _SUNDARARAJAN + ", Prop. 1"))
sensitivity = register("sensitivity", family="axiomatic", higher_is_better=True,
                       kind="check")(_cited(
    axioms.sensitivity, "Sensitivity(a): one-feature differences that change the output get "
    "attribution.", _SUNDARARAJAN + ", Sec. 2.1"))
implementation_invariance = register(
    "implementation_invariance", family="axiomatic", higher_is_better=False, kind="check")(
    _cited(axioms.implementation_invariance, "Implementation invariance: functionally equal "
           "networks get equal attributions.", _SUNDARARAJAN + ", Sec. 2.2"))
xg_ig = register("xg_ig", family="axiomatic", higher_is_better=False, kind="check")(_cited(
    axioms.xg_equals_ig, "X-Gradient equals Integrated Gradients on X-DNNs.", _HESSE))
