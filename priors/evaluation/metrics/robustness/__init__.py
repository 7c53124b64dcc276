"""Robustness metrics: how much the explanation changes under small input perturbations."""
from . import local_lipschitz, sensitivity  # noqa: F401
