"""An attribution prior = attribution method + penalty + weight."""
from __future__ import annotations

import weakref
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor, nn

from .attributions import (expected_gradients, gradient, input_x_gradient,
                           integrated_gradients, log_prob_gradient)
from .attributions._target import check_finite, leaf_or_graph_input
from .attributions.expected_gradients import References
from .penalties import Penalty, get_penalty
from .xdnn import assert_homogeneous

# Methods evaluated at the input itself can share the task loss's forward pass.
METHODS = {
    "xg": input_x_gradient,
    "grad": gradient,
    "rrr": log_prob_gradient,
    "eg": expected_gradients,
    "ig": integrated_gradients,
}
ALIASES = {
    "x_gradient": "xg", "input_x_gradient": "xg", "gradient": "grad", "saliency": "grad",
    "log_prob_gradient": "rrr", "expected_gradients": "eg", "integrated_gradients": "ig",
}
SHARED_FORWARD = {"xg", "grad", "rrr"}


def resolve_method(name: str) -> str:
    key = ALIASES.get(name, name)
    if key not in METHODS:
        choices = ["none"] + sorted(set(METHODS) | set(ALIASES))
        raise ValueError(f"unknown attribution prior method {name!r}; choose one of {choices}")
    return key


class PriorOutput(NamedTuple):
    outputs: Tensor  # model outputs on the inputs (shared with the task loss when possible)
    attributions: Tensor
    penalty: Tensor  # unweighted
    weighted: Tensor  # weight * penalty


class Prior:
    """Attribution prior: ``weight * penalty(attribution_method(model, x))``.

    Args:
        method: ``xg`` (X-Gradient, needs an X-DNN), ``grad`` (input gradient), ``rrr``
            (gradient of summed log-probabilities, Ross et al. 2017), ``eg`` (Expected
            Gradients, Erion et al. 2021) or ``ig`` (Integrated Gradients, expensive).
        penalty: ``gini``, ``l1``, ``tv``, ``masked_l2`` or a callable ``(attr, mask) -> scalar``.
        weight: multiplier of the penalty in the loss.
        k: references per example for ``eg``.
        n_steps: quadrature steps for ``ig``.
        target: for multi-class models, attribute the ``"label"`` logit (default) or the
            predicted (``"pred"``) one; single-output models always use their one logit.
        check_homogeneity: for ``xg``, verify once per model, on the first batch, that the
            model is nonnegatively homogeneous (structurally and numerically) and fail fast.

    The functional route, inside any ``training_step``::

        prior = Prior("eg", "gini", weight=0.1)
        loss = task_loss + prior(model, x, y, references=train_x)
    """

    def __init__(
        self,
        method: str = "xg",
        penalty: str | Penalty = "gini",
        weight: float = 1.0,
        k: int = 1,
        n_steps: int = 32,
        target: str = "label",
        check_homogeneity: bool = True,
    ):
        self.method = resolve_method(method)
        self.penalty_name = penalty if isinstance(penalty, str) else getattr(penalty, "__name__", "custom")
        self.penalty_fn = get_penalty(penalty)
        if not float(weight) >= 0:
            raise ValueError(f"prior weight must be a nonnegative number, got {weight}")
        if target not in ("label", "pred"):
            raise ValueError(f"target must be 'label' or 'pred', got {target!r}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.weight = float(weight)
        self.k = int(k)
        self.n_steps = int(n_steps)
        self.target = target
        self.check_homogeneity = check_homogeneity
        self._verified: weakref.WeakSet = weakref.WeakSet()

    def __repr__(self) -> str:
        return (f"Prior(method={self.method!r}, penalty={self.penalty_name!r}, "
                f"weight={self.weight}, k={self.k})")

    @property
    def requires_xdnn(self) -> bool:
        return self.method == "xg"

    @property
    def shares_forward(self) -> bool:
        return self.method in SHARED_FORWARD

    @property
    def needs_references(self) -> bool:
        return self.method == "eg"

    def attribution_target(self, outputs: Tensor, y: Optional[Tensor]):
        """Class index attributed per example: ``None`` for one logit (and for RRR), else the
        label (``target="label"``) or the predicted class (``target="pred"``)."""
        if self.method == "rrr" or outputs.dim() == 1 or outputs.shape[1] == 1:
            return None
        if self.target == "pred" or y is None:
            return outputs.detach().argmax(1)
        return y.long()

    def verify(self, model: nn.Module, x: Tensor) -> None:
        """Fail fast if ``xg`` is used on a model that is not nonnegatively homogeneous."""
        if self.requires_xdnn and self.check_homogeneity and model not in self._verified:
            assert_homogeneous(model, x.detach()[:64], purpose="The X-Gradient prior")
            self._verified.add(model)

    def compute(
        self,
        model: Callable[[Tensor], Tensor],
        x: Tensor,
        y: Optional[Tensor] = None,
        mask: Optional[Tensor] = None,
        references: Optional[References] = None,
        create_graph: bool = True,
    ) -> PriorOutput:
        """Model outputs, attributions and penalty; one forward pass for ``xg``/``grad``/``rrr``."""
        check_finite(x, "inputs")
        if isinstance(model, nn.Module):
            self.verify(model, x)
        fn = METHODS[self.method]
        if self.shares_forward:
            xin = leaf_or_graph_input(x)
            outputs = model(xin)
            attr = fn(model, xin, self.attribution_target(outputs, y), create_graph=create_graph,
                      outputs=outputs)
        else:
            outputs = model(x)
            target = self.attribution_target(outputs, y)
            if self.method == "eg":
                if references is None:
                    raise ValueError(
                        "the Expected Gradients prior needs references: pass a tensor of training "
                        "inputs or a priors.attributions.ReferenceSampler(train_dataset)"
                    )
                attr = fn(model, x, references, target, k=self.k, create_graph=create_graph)
            else:
                attr = fn(model, x, None, target, n_steps=self.n_steps, create_graph=create_graph)
        penalty = self.penalty_fn(attr, mask)
        return PriorOutput(outputs, attr, penalty, self.weight * penalty)

    def __call__(self, model, x, y=None, mask=None, references=None) -> Tensor:
        """``weight * penalty``, differentiable w.r.t. the model parameters."""
        return self.compute(model, x, y, mask, references).weighted


def make_prior(method: str = "none", penalty: str | Penalty = "gini", weight: float = 1.0,
               **kwargs) -> Optional[Prior]:
    """Factory for configs: ``method="none"`` (or weight 0 with method none) gives ``None``."""
    if method in (None, "none"):
        return None
    return Prior(method, penalty, weight, **kwargs)
