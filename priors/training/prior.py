"""An attribution prior = attribution method + penalty + weight."""
from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence

from torch import Tensor, nn

from ..attributions.expected_gradients import References
from ..attributions.custom import as_method
from ..attributions.registry import AttributionMethod, get_method, resolve_method  # noqa: F401
from ..core.checks import (check_finite, check_float_inputs, check_input_dtype,
                           check_integer, check_not_empty,
                           check_weight, leaf_or_graph_input)
from ..core.norm_stats import frozen_running_stats
from ..core.targets import attribution_target, check_target_choice
from ..core.outputs import select_logits
from ..penalties import Penalty, get_penalty
from ..core.tokens import TokenBatch, check_token_mask, check_tokens
from .xdnn import Trusted, assert_homogeneous


class PriorOutput(NamedTuple):
    outputs: Tensor  # model outputs on the inputs (shared with the task loss when possible)
    attributions: Tensor
    penalty: Tensor  # unweighted
    weighted: Tensor  # weight * penalty


class Prior:
    """Attribution prior: ``weight * penalty(attribution_method(model, x))``.

    Args:
        method: any registered attribution method or alias
            (:func:`priors.attributions.available_methods`), e.g. ``xg`` (X-Gradient, needs an
            X-DNN), ``grad``, ``rrr`` (Ross et al. 2017), ``eg`` (Expected Gradients, Erion et al.
            2021), ``ig``, ``smoothgrad``.
        penalty: ``gini``, ``l1``, ``tv``, ``masked_l2`` or a callable ``(attr, mask) -> scalar``.
        weight: multiplier of the penalty in the loss.
        target: for multi-class models, attribute the ``"label"`` logit (default) or the
            predicted (``"pred"``) one; single-output models always use their one logit.
        check_homogeneity: for methods that need an X-DNN, verify once per model, on the first
            batch and in the mode the model is in (training mode during training), that the
            model is nonnegatively homogeneous and fail fast.
        trusted_layers: layer types (or ``"package.module.Class"`` paths) you vouch are
            nonnegatively homogeneous although they are not on :mod:`priors.training.xdnn`'s allow-list.
        penalty_options: keyword arguments of the penalty, e.g. ``{"floor": 1e-3}`` for
            ``gini`` (see :func:`~priors.penalties.gini_penalty`).
        warmup_steps: ramp the weight linearly from ``weight / warmup_steps`` to ``weight``
            over the first ``warmup_steps`` training steps (0: full weight from the start); a
            remedy for the Gini penalty's large gradients while attributions are still tiny.
        **hparams: the method's hyperparameters, e.g. ``k`` for ``eg``, ``n_steps`` for ``ig``
            (unknown names fail with the valid ones listed).

    Running a prior has two pieces, shared by :class:`~priors.PriorModule`, the
    :class:`~priors.callbacks.AttributionPrior` callback and the benchmarks:
    :meth:`forward_inputs` (the inputs the task's forward must see so that its outputs can be
    reused) and :meth:`penalize` (attribute + penalty, given that forward's outputs).
    :meth:`compute` chains them. The functional route, inside any ``training_step``::

        prior = Prior("eg", "gini", weight=0.1, k=4)
        loss = task_loss + prior(model, x, y, references=train_x)
    """

    def __init__(
        self,
        method: str = "xg",
        penalty: str | Penalty = "gini",
        weight: float = 1.0,
        target: str = "label",
        check_homogeneity: bool = True,
        trusted_layers: Trusted = (),
        penalty_options: Optional[Mapping[str, Any]] = None,
        warmup_steps: int = 0,
        name: Optional[str] = None,
        **hparams: Any,
    ):
        try:
            # A callable or Captum object is listed under ``name`` (default: its own name).
            self.spec: AttributionMethod = (get_method(method) if isinstance(method, str)
                                            else as_method(method, name))
        except ValueError as err:
            raise ValueError(f"unknown attribution prior method {method!r}: {err}") from None
        self.method = self.spec.name
        if not self.spec.differentiable:
            raise ValueError(f"attribution method {self.method!r} is not differentiable w.r.t. "
                             "the parameters and cannot be a training prior")
        self.hparams: Dict[str, Any] = self.spec.check_hparams(hparams)
        self.penalty_name = penalty if isinstance(penalty, str) else getattr(penalty, "__name__", "custom")
        self.penalty_fn = _with_options(get_penalty(penalty), dict(penalty_options or {}),
                                        self.penalty_name)
        _check_penalty_arity(self.penalty_fn, self.penalty_name)
        self.penalty_options = dict(penalty_options or {})
        weight = check_weight(weight)
        self.warmup_steps = check_integer(warmup_steps, "warmup_steps", minimum=0)
        self.trusted_layers: Sequence[Any] = tuple(trusted_layers or ())
        check_target_choice(target)
        if int(self.hparams.get("k", 1)) < 1:
            raise ValueError(f"k must be >= 1, got {self.hparams['k']}")
        self.weight = weight
        self.target = target
        self.check_homogeneity = check_homogeneity
        self._verified: weakref.WeakSet = weakref.WeakSet()

    def __getattr__(self, name: str) -> Any:
        # Hyperparameters read as attributes (prior.k, prior.n_steps), with the method's defaults.
        spec = self.__dict__.get("spec")
        if spec is not None and name in spec.hparams:
            return self.__dict__["hparams"].get(name, spec.hparams[name])
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.hparams.items())
        return (f"Prior(method={self.method!r}, penalty={self.penalty_name!r}, "
                f"weight={self.weight}{extra})")

    @property
    def requires_xdnn(self) -> bool:
        return self.spec.requires_xdnn

    @property
    def shares_forward(self) -> bool:
        return self.spec.shares_forward

    @property
    def needs_references(self) -> bool:
        # A wrapper (SmoothGrad of EG) needs what the method it wraps needs.
        base = self.hparams.get("base")
        return self.spec.needs_references or (base is not None and get_method(base).needs_references)

    def attribution_target(self, outputs: Tensor, y: Optional[Tensor]):
        """Class index attributed per example: ``None`` for one logit (and for methods without a
        target), else the label (``target="label"``) or the predicted class (``"pred"``); see
        :func:`priors.core.targets.attribution_target`."""
        return attribution_target(outputs, y, self.target, self.spec.uses_target)

    def verify(self, model: nn.Module, x: Tensor) -> None:
        """Fail fast if an X-DNN method is used on a model that is not nonnegatively homogeneous."""
        if self.requires_xdnn and self.check_homogeneity and not self.is_verified(model):
            assert_homogeneous(model, x.detach()[:64], purpose=f"The {self.method} prior",
                               trusted=self.trusted_layers)
            self._verified.add(model)

    def is_verified(self, model) -> bool:
        """Whether :meth:`verify` has checked ``model`` to be nonnegatively homogeneous."""
        try:
            return model in self._verified
        except TypeError:  # not weak-referenceable
            return False

    def weight_at(self, step: Optional[int]) -> float:
        """The weight at training step ``step`` (0-based), after the linear warm-up."""
        if not self.warmup_steps or step is None:
            return self.weight
        return self.weight * min(1.0, (int(step) + 1) / self.warmup_steps)

    def forward_inputs(self, x: Tensor, check: bool = True) -> Tensor:
        """The inputs the task's forward should run on: a tensor requiring grad when the method
        shares that forward (its outputs are then reused by :meth:`penalize`), else ``x``.
        ``check=False`` when the caller validated ``x`` already (one host sync less per step)."""
        if check:
            check_inputs(x, "inputs")
        if isinstance(x, TokenBatch):  # text: the forward records its word embeddings
            return x.recording() if self.shares_forward else x
        return leaf_or_graph_input(x) if self.shares_forward else x

    def penalize(
        self,
        model: Callable[[Tensor], Tensor],
        inputs: Tensor,
        outputs: Tensor,
        y: Optional[Tensor] = None,
        mask: Optional[Tensor] = None,
        references: Optional[References] = None,
        create_graph: bool = True,
        step: Optional[int] = None,
    ) -> PriorOutput:
        """Attributions of ``model`` at ``inputs`` and their penalty, reusing ``outputs`` (the
        model's outputs on ``inputs``, from :meth:`forward_inputs`) when the method can.

        The method's own forwards (EG's interpolated points, IG's path, SmoothGrad's noisy
        copies) leave BatchNorm running statistics untouched. ``step`` (the training step)
        applies the weight warm-up."""
        outputs = select_logits(outputs)  # a tuple / dict / ModelOutput: its logits
        if isinstance(inputs, TokenBatch):
            check_token_mask(mask, inputs, "the annotation (rationale) mask")
        elif isinstance(model, nn.Module):
            check_input_dtype(model, inputs)
            self.verify(model, inputs)
        with frozen_running_stats(model):
            attr = self.spec(model, inputs, self.attribution_target(outputs, y),
                             create_graph=create_graph, outputs=outputs, references=references,
                             **self.hparams)
        penalty = self.penalty_fn(attr, mask)
        return PriorOutput(outputs, attr, penalty, self.weight_at(step) * penalty)

    def compute(
        self,
        model: Callable[[Tensor], Tensor],
        x: Tensor,
        y: Optional[Tensor] = None,
        mask: Optional[Tensor] = None,
        references: Optional[References] = None,
        create_graph: bool = True,
        step: Optional[int] = None,
    ) -> PriorOutput:
        """Model outputs, attributions and penalty; one forward pass for shared-forward methods."""
        if isinstance(model, nn.Module):  # before the forward, whose error is a raw one
            check_input_dtype(model, x)
        xin = self.forward_inputs(x)
        return self.penalize(model, xin, model(xin), y, mask, references, create_graph, step)

    def __call__(self, model, x, y=None, mask=None, references=None) -> Tensor:
        """``weight * penalty``, differentiable w.r.t. the model parameters."""
        return self.compute(model, x, y, mask, references).weighted


def check_inputs(x: Tensor, name: str = "inputs") -> None:
    """What every prior needs of a batch input: a non-empty, floating-point, finite tensor
    (or a :class:`~priors.core.tokens.TokenBatch` of token ids with an attention mask)."""
    if isinstance(x, TokenBatch):
        check_tokens(x, name)
        return
    check_finite(x, name)
    check_not_empty(x, name)
    check_float_inputs(x, name)


def _check_penalty_arity(fn: Penalty, name: str) -> None:
    """A penalty is called as ``fn(attributions, mask)``; say so at construction instead of
    Python's arity error at the first training step."""
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise TypeError(f"penalty {name!r} must accept (attributions, mask) -> scalar; its "
                        f"signature is {inspect.signature(fn)} (add a mask=None argument)"
                        ) from None
    except ValueError:  # no signature (some builtins): nothing to check
        pass


def _with_options(fn: Penalty, options: Dict[str, Any], name: str) -> Penalty:
    if not options:
        return fn
    params = inspect.signature(fn).parameters
    unknown = sorted(set(options) - set(params))
    if unknown and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        valid = [k for k in params if k not in ("attributions", "mask")]
        raise ValueError(f"penalty {name!r} has no option {', '.join(unknown)}; its options: "
                         f"{valid or 'none'}")
    return functools.partial(fn, **options)


def make_prior(method: str = "none", penalty: str | Penalty = "gini", weight: float = 1.0,
               **kwargs) -> Optional[Prior]:
    """Factory for configs: ``method="none"`` gives ``None`` (unregularized training)."""
    if method in (None, "none"):
        return None
    return Prior(method, penalty, weight, **kwargs)
