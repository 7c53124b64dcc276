"""The registry of explanation-regularization losses: each loss file registers itself.

A loss is a function returning one value per example, shape ``(B,)``::

    @register("hint", annotations="right", uses_layer=True)
    def hint(model, inputs, target=None, *, annotations=None, create_graph=True,
             layer="final", margin=0.0): ...

Its file declares what the pipeline must give it, and :class:`~priors.losses.LossPrior`, the
registry-wide tests and the configs read it here. Hyperparameters are the function's remaining
keyword arguments, read with their defaults from its signature (as in
:mod:`priors.attributions.registry`).

The call convention (:meth:`LossSpec.__call__`) passes, of ``outputs`` (the shared forward's
outputs at ``inputs``), ``labels`` (the batch's labels) and ``annotations`` (a mask shaped like
the inputs, or broadcastable, already in the loss's ``reason``: 1 on irrelevant features for
``"wrong"``, on relevant ones for ``"right"``), only those the function declares.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from torch import Tensor

_CONVENTION = ("model", "inputs", "target", "create_graph", "outputs", "labels", "annotations")
REASONS = ("wrong", "right")


@dataclass(frozen=True)
class LossSpec:
    """What the pipeline needs to know about one loss.

    Attributes:
        name: canonical name (``prior.method`` in configs, ``LossPrior(name)``).
        fn: the loss function (per-example values ``(B,)``).
        annotations: ``None`` (needs no annotation), ``"wrong"`` (a mask of the features the
            model must not use) or ``"right"`` (of those it should use: boxes, foreground).
        uses_layer: guides the attributions of a chosen layer (``layer=`` ``"input"``,
            ``"mid"``, ``"final"`` or a dotted module name).
        second_forward: runs the model again on modified inputs (counterexamples, masked inputs).
        data_side: the penalty is a task loss on generated data, not on attributions.
        shares_forward: takes the outputs of the task's forward at ``inputs`` (``outputs=``).
        requires_vit / requires_conv / requires_chain: needs a :class:`priors.models.ViT`, a
            convolutional layer, or a model that applies supported layers one after another
            (contextual decomposition); other models fail with a ``ValueError``.
        stochastic: draws random numbers (from torch's global generator).
        uses_target: the loss explains one output per example (the label's logit by default).
        attribution: the registered attribution method the loss guides, when there is one
            (what its in-mask share is best measured with).
        hparams: hyperparameter names and defaults, from the signature.
        summary: one line for listings.
    """

    name: str
    fn: Callable[..., Tensor]
    annotations: Optional[str] = None
    uses_layer: bool = False
    second_forward: bool = False
    data_side: bool = False
    shares_forward: bool = False
    requires_vit: bool = False
    requires_conv: bool = False
    requires_chain: bool = False
    stochastic: bool = False
    uses_target: bool = True
    attribution: Optional[str] = None
    hparams: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""
    # Read by the training step as for attribution methods (no Euler shortcut, no X-DNN).
    complete: bool = False
    requires_xdnn: bool = False
    needs_references: bool = False
    differentiable: bool = True

    @property
    def needs_annotations(self) -> bool:
        return self.annotations is not None

    def check_hparams(self, kwargs: Mapping[str, Any]) -> Dict[str, Any]:
        """Validated hyperparameters: unknown names and non-integral ints fail, naming the valid."""
        unknown = sorted(set(kwargs) - set(self.hparams))
        if unknown:
            valid = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items()) or "none"
            raise ValueError(f"loss {self.name!r} has no hyperparameter {', '.join(unknown)}; "
                             f"its hyperparameters (defaults): {valid}")
        out = {}
        for key, value in kwargs.items():
            default = self.hparams[key]
            if isinstance(default, int) and not isinstance(default, bool):
                if isinstance(value, bool) or not float(value).is_integer():
                    raise ValueError(f"{self.name}: hyperparameter {key} must be an integer, "
                                     f"got {value!r}")
                value = int(value)
            out[key] = value
        return out

    def __call__(self, model, inputs: Tensor, target: Any = None, *, create_graph: bool = True,
                 outputs: Optional[Tensor] = None, labels: Optional[Tensor] = None,
                 annotations: Optional[Tensor] = None, **hparams: Any) -> Tensor:
        kwargs: Dict[str, Any] = dict(self.check_hparams(hparams))
        params = inspect.signature(self.fn).parameters
        if "create_graph" in params:
            kwargs["create_graph"] = create_graph
        if self.uses_target:
            kwargs["target"] = target
        if self.shares_forward and outputs is not None:
            kwargs["outputs"] = outputs
        if "labels" in params:
            if labels is None:
                raise ValueError(f"loss {self.name!r} needs the batch's labels (labels=...)")
            kwargs["labels"] = labels
        if self.needs_annotations:
            if annotations is None:
                raise ValueError(
                    f"loss {self.name!r} needs annotations ({self.annotations!r} reasons: a "
                    "mask, or boxes converted with priors.losses.boxes_to_masks): batches "
                    "must be (x, y, mask), or pass annotations=...")
            kwargs["annotations"] = annotations
        values = self.fn(model, inputs, **kwargs)
        if values.dim() != 1 or values.shape[0] != inputs.shape[0]:
            raise RuntimeError(f"loss {self.name!r} returned shape {tuple(values.shape)}, "
                               f"expected one value per example ({inputs.shape[0]},)")
        return values


_REGISTRY: Dict[str, LossSpec] = {}


def register(name: str, *, annotations: Optional[str] = None, uses_layer: bool = False,
             second_forward: bool = False, data_side: bool = False,
             shares_forward: bool = False, requires_vit: bool = False,
             requires_conv: bool = False, requires_chain: bool = False,
             stochastic: bool = False, uses_target: bool = True,
             attribution: Optional[str] = None, summary: str = "") -> Callable[[Callable], Callable]:
    """Decorator registering a loss function under ``name`` (returns it unchanged)."""
    if annotations is not None and annotations not in REASONS:
        raise ValueError(f"annotations must be None or one of {REASONS}, got {annotations!r}")

    def decorate(fn: Callable) -> Callable:
        params = inspect.signature(fn).parameters
        hparams = {k: p.default for k, p in params.items()
                   if k not in _CONVENTION and p.default is not inspect.Parameter.empty}
        missing = [k for k, p in params.items() if k not in _CONVENTION
                   and p.default is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"loss {name!r}: arguments {missing} need defaults")
        if shares_forward and "outputs" not in params:
            raise TypeError(f"loss {name!r} shares the forward but takes no outputs=")
        if annotations is not None and "annotations" not in params:
            raise TypeError(f"loss {name!r} needs annotations but takes no annotations=")
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"loss name {name!r} is already taken")
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = LossSpec(
            name=name, fn=fn, annotations=annotations, uses_layer=uses_layer,
            second_forward=second_forward, data_side=data_side, shares_forward=shares_forward,
            requires_vit=requires_vit, requires_conv=requires_conv,
            requires_chain=requires_chain, stochastic=stochastic, uses_target=uses_target,
            attribution=attribution, hparams=hparams, summary=summary or (doc[0] if doc else name))
        return fn

    return decorate


def get_loss(name: str) -> LossSpec:
    """The registered :class:`LossSpec`; ``ValueError`` listing the choices otherwise."""
    try:
        return _REGISTRY[str(name)]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(_REGISTRY)}") from None


def is_loss(name: object) -> bool:
    return str(name) in _REGISTRY


def available_losses(**requirements: Any) -> List[str]:
    """Names, optionally filtered: ``available_losses(second_forward=True)``."""
    return sorted(name for name, spec in _REGISTRY.items()
                  if all(getattr(spec, key) == value for key, value in requirements.items()))


def loss_names() -> Tuple[str, ...]:
    return tuple(sorted(_REGISTRY))
