"""The axiom checks of :mod:`priors.evaluation.axioms` as registered metrics.

Each check runs the methods itself (``methods=`` specs) and returns a DataFrame with a
``holds`` column; the direction refers to the check's error column (lower is better).
"""
from __future__ import annotations

from ... import axioms
from ..registry import register

register("completeness", family="axiomatic", higher_is_better=False, kind="check")(
    axioms.completeness)
register("sensitivity", family="axiomatic", higher_is_better=True, kind="check")(
    axioms.sensitivity)
register("implementation_invariance", family="axiomatic", higher_is_better=False,
         kind="check")(axioms.implementation_invariance)
register("xg_ig", family="axiomatic", higher_is_better=False, kind="check")(
    axioms.xg_equals_ig)
