"""Differentiable, batched attribution methods (``create_graph=True`` for training priors)."""
from .expected_gradients import ReferenceSampler, expected_gradients
from .gradient import gradient
from .input_x_gradient import input_x_gradient
from .integrated_gradients import integrated_gradients
from .log_prob_gradient import log_prob_gradient

__all__ = [
    "ReferenceSampler",
    "expected_gradients",
    "gradient",
    "input_x_gradient",
    "integrated_gradients",
    "log_prob_gradient",
]
