"""Explanation-regularization losses ("right for the right reasons"), one file each.

Each loss registers itself in :mod:`.registry`; :class:`LossPrior` runs any of them through
:class:`~priors.PriorModule` and the :class:`~priors.callbacks.AttributionPrior` callback;
:mod:`.annotations` is the one annotation interface (masks, boxes, token rationales, reasons,
partial annotation). RRR on the input gradient itself is ``Prior("rrr", "masked_l2")``.

RBR (Shao et al., "Right for Better Reasons", AAAI 2021) is not here: its penalty is the input
gradient of the influence function, :math:`\\nabla_x\\, \\nabla_\\theta \\ell^\\top H^{-1}
\\nabla_\\theta \\ell`, whose exact value needs the inverse of the full parameter Hessian (the
Decoy-MNIST CNN has about 10^5 parameters: 10^10 entries, refactored at every step) and a
third-order derivative through it for training; the paper itself approximates it, and an
approximation would not be the loss it names.
"""
from . import (cdep, counterexamples, energy, gradmask, hint, ppce, robustvit,  # noqa: F401
               rrr_gradcam, saliency_guided)
from .annotations import (PartiallyAnnotated, annotated_rows, boxes_to_masks, check_fraction,
                          check_mask, fit_mask, partial_annotation, to_reason, tokens_to_masks)
from .prior import LossPrior, make_loss_prior
from .registry import LossSpec, available_losses, get_loss, is_loss, register

__all__ = ["LossPrior", "LossSpec", "PartiallyAnnotated", "annotated_rows", "available_losses",
           "boxes_to_masks", "check_fraction", "check_mask", "fit_mask", "get_loss", "is_loss",
           "make_loss_prior", "partial_annotation", "register", "to_reason", "tokens_to_masks"]
