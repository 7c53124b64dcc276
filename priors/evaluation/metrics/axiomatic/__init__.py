"""Axiomatic metrics: properties an attribution method should satisfy by construction."""
from . import checks, input_invariance, non_sensitivity  # noqa: F401
