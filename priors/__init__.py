"""priors: training-time attribution priors for PyTorch Lightning and Hydra."""
from ._old_paths import install as _install_old_paths

_install_old_paths()  # priors.prior, priors.module, ... : the modules' paths before the layout
from .attributions import (ReferenceSampler, attribute, available_methods, expected_gradients,
                           get_method, gradient, input_x_gradient, integrated_gradients,
                           log_prob_gradient, smoothgrad)
from . import config as _config  # noqa: F401 (registers the configs' resolvers)
from .lightning.module import PriorModule
from .training.prior import Prior, PriorOutput
from .training.xdnn import (NonHomogeneousError, assert_homogeneous, check_homogeneity,
                   find_non_homogeneous, to_xdnn)

__version__ = "0.1.0"

__all__ = [
    "NonHomogeneousError", "Prior", "PriorModule", "PriorOutput", "ReferenceSampler",
    "assert_homogeneous", "attribute", "available_methods", "get_method", "smoothgrad", "check_homogeneity", "expected_gradients", "find_non_homogeneous",
    "gradient", "input_x_gradient", "integrated_gradients", "log_prob_gradient", "to_xdnn",
]
