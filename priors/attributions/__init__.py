"""Differentiable, batched attribution methods (``create_graph=True`` for training priors).

Each method registers itself in :mod:`priors.attributions.registry` next to its definition;
importing this package registers them all.
"""
from .registry import (AttributionMethod, attribute, available_methods, get_method, register,
                       register_method, resolve_method)
from .custom import as_method  # installs get_method's wrapper for callables / Captum objects
from .gradient import gradient  # noqa: I001 (registration order: simple methods first)
from .input_x_gradient import input_x_gradient
from .log_prob_gradient import log_prob_gradient
from .integrated_gradients import integrated_gradients
from .expected_gradients import ReferenceSampler, expected_gradients
from .noise_tunnel import noise_tunnel, smoothgrad, smoothgrad_sq, vargrad
from .guided_backprop import guided_backprop
from .grad_cam import grad_cam
from .guided_grad_cam import guided_grad_cam
from .random_attribution import random_attribution
from .transformer import (attention_gradcam, full_lrp, gradient_weighted_attention, partial_lrp,
                          raw_attention, rollout, transformer_attribution)
from . import text  # noqa: F401 (registers the text methods)

__all__ = [
    "AttributionMethod", "ReferenceSampler", "as_method", "attention_gradcam", "attribute",
    "available_methods", "expected_gradients", "full_lrp", "get_method", "grad_cam", "gradient",
    "gradient_weighted_attention", "guided_backprop", "guided_grad_cam", "input_x_gradient",
    "integrated_gradients", "log_prob_gradient", "noise_tunnel", "partial_lrp",
    "random_attribution", "raw_attention", "register", "register_method", "resolve_method",
    "rollout", "smoothgrad", "smoothgrad_sq", "transformer_attribution", "vargrad",
]
