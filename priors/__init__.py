"""priors: training-time attribution priors for PyTorch Lightning and Hydra."""
from .attributions import (ReferenceSampler, expected_gradients, gradient, input_x_gradient,
                           integrated_gradients, log_prob_gradient)
from .module import PriorModule
from .prior import Prior, PriorOutput
from .xdnn import (NonHomogeneousError, assert_homogeneous, check_homogeneity,
                   find_non_homogeneous, to_xdnn)

__version__ = "0.1.0"

__all__ = [
    "NonHomogeneousError", "Prior", "PriorModule", "PriorOutput", "ReferenceSampler",
    "assert_homogeneous", "check_homogeneity", "expected_gradients", "find_non_homogeneous",
    "gradient", "input_x_gradient", "integrated_gradients", "log_prob_gradient", "to_xdnn",
]
