"""The registry of attribution methods: each method file registers itself, everything else reads.

A method is a function ``fn(model, inputs, target=None, *, create_graph=False, ...)`` returning a
tensor shaped like ``inputs``. Its file declares, next to the definition, what the pipeline must
know about it::

    @register("grad", aliases=("gradient", "saliency"), shares_forward=True)
    def gradient(model, inputs, target=None, create_graph=False, outputs=None): ...

and :class:`~priors.Prior`, the callbacks, the report, the configs' validation and the tests find
it here. Hyperparameters (``k`` of Expected Gradients, ``n_steps`` of Integrated Gradients, ...)
are the function's remaining keyword arguments, read with their defaults from its signature.

One call convention for every method, :meth:`AttributionMethod.__call__`::

    get_method("eg")(model, x, target, references=train_x, create_graph=True, k=4)

``outputs`` (the model's outputs on ``inputs``, already computed by the task's forward),
``references`` and ``baseline`` are context offered by the caller: a method receives those it
declares and ignores the rest, so callers need not know which method they run.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from torch import Tensor

from ..core.checks import check_integer
from ..core.tokens import TokenBatch

# Arguments of the call convention itself; every other keyword argument is a hyperparameter.
_CONVENTION = ("model", "inputs", "target", "create_graph", "outputs", "references", "baseline")


@dataclass(frozen=True)
class AttributionMethod:
    """What the pipeline needs to know about one attribution method.

    Attributes:
        name: canonical name (``prior.method`` in configs, ``Prior(name)``).
        fn: the attribution function.
        aliases: other accepted names.
        shares_forward: evaluated at the input itself, so it can reuse the task loss's forward
            (the function accepts ``outputs=``); the prior then costs one extra backward.
        needs_references: draws references from the training data (``references=``).
        requires_xdnn: only meaningful on nonnegatively homogeneous networks (X-DNNs).
        complete: the attributions of an example sum to its attributed output exactly, up to
            rounding (for a ``requires_xdnn`` method: on a model verified to be an X-DNN), at
            any parameters. A single-logit task loss can then take its gradient through the
            attribution's graph instead of the forward graph (:mod:`priors.training.step`).
        requires_conv: needs image inputs ``(B, C, H, W)`` and a convolutional layer with
            spatial feature maps (Grad-CAM); calling it on an MLP raises a ``ValueError``.
        uses_target: attributes one output per example (``False``: e.g. RRR's summed
            log-probabilities, which take no target).
        requires_vit: explains a :class:`priors.models.ViT` (reads its attention maps); other
            models raise a ``ValueError``.
        stochastic: draws random numbers (references, noise), so results differ between calls
            unless the global RNG (or the method's ``seed``) is fixed.
        accepts_baseline, accepts_references: the function takes ``baseline=`` /
            ``references=`` (read from its signature; wrappers pass references through).
        requires_embeddings: attributes a text model w.r.t. its input embeddings: needs a
            :class:`~priors.core.tokens.TokenBatch` (token ids with an attention mask) and a
            model with ``get_input_embeddings()``; returns ``(batch, tokens)`` scores. A method
            without it, called on a TokenBatch, runs its text counterpart ``text_<name>``
            (:mod:`priors.attributions.text`).
        differentiable: ``create_graph=True`` gives attributions differentiable w.r.t. the
            parameters, so the method can be a training prior.
        hparams: hyperparameter names and defaults, from the function's signature.
        renamed: old hyperparameter names -> new ones; an old name fails saying the new one.
        summary: one line for listings (first line of the docstring by default).
    """

    name: str
    fn: Callable[..., Tensor]
    aliases: Tuple[str, ...] = ()
    shares_forward: bool = False
    needs_references: bool = False
    requires_xdnn: bool = False
    complete: bool = False
    requires_conv: bool = False
    requires_vit: bool = False
    requires_embeddings: bool = False
    uses_target: bool = True
    differentiable: bool = True
    stochastic: bool = False
    accepts_baseline: bool = False
    accepts_references: bool = False
    hparams: Mapping[str, Any] = field(default_factory=dict)
    renamed: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""

    def check_hparams(self, kwargs: Mapping[str, Any]) -> Dict[str, Any]:
        """Validated hyperparameters: unknown names and wrong types fail with the valid ones named."""
        unknown = sorted(set(kwargs) - set(self.hparams))
        old = [k for k in unknown if k in self.renamed]
        if old:
            raise ValueError(f"attribution method {self.name!r}: hyperparameter {old[0]} is now "
                             f"called {self.renamed[old[0]]}; pass {self.renamed[old[0]]}="
                             f"{kwargs[old[0]]!r}")
        if unknown:
            valid = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items()) or "none"
            raise ValueError(f"attribution method {self.name!r} has no hyperparameter "
                             f"{', '.join(unknown)}; its hyperparameters (defaults): {valid}")
        out = {}
        for key, value in kwargs.items():
            default = self.hparams[key]
            # An int hyperparameter (k, n_steps, n_samples) must not silently truncate 2.5 to 2.
            if isinstance(default, int) and not isinstance(default, bool):
                value = check_integer(value, f"{self.name}: hyperparameter {key}")
            out[key] = value
        return out

    def __call__(self, model: Callable[[Tensor], Tensor], inputs: Tensor, target: Any = None, *,
                 create_graph: bool = False, outputs: Optional[Tensor] = None,
                 references: Any = None, baseline: Any = None, **hparams: Any) -> Tensor:
        if not self.requires_embeddings and isinstance(inputs, TokenBatch):
            return self._text_counterpart(hparams)(
                model, inputs, target, create_graph=create_graph, outputs=outputs,
                references=references, **hparams)
        if create_graph and not self.differentiable:
            raise ValueError(f"attribution method {self.name!r} is not differentiable w.r.t. "
                             "the model parameters and cannot be used with create_graph=True "
                             "(as a training prior)")
        kwargs: Dict[str, Any] = dict(self.check_hparams(hparams))
        kwargs["create_graph"] = create_graph
        if self.uses_target:
            kwargs["target"] = target
        if self.shares_forward and outputs is not None:
            kwargs["outputs"] = outputs
        if self.needs_references and references is None:
            raise ValueError(
                f"attribution method {self.name!r} needs references: pass references=<a "
                "tensor of training inputs or a priors.attributions.ReferenceSampler>")
        if self.accepts_references and references is not None:
            kwargs["references"] = references
        if self.accepts_baseline and baseline is not None:
            kwargs["baseline"] = baseline
        return self.fn(model, inputs, **kwargs)

    def _text_counterpart(self, hparams: Mapping[str, Any]) -> "AttributionMethod":
        text = _REGISTRY.get(_ALIASES.get(f"text_{self.name}", ""))
        if text is None:
            raise ValueError(f"attribution method {self.name!r} has no text counterpart for "
                             "token inputs (TokenBatch); text methods: "
                             f"{available_methods(requires_embeddings=True)}")
        extra = sorted(set(hparams) - set(text.hparams))
        if extra:
            raise ValueError(f"on token inputs {self.name!r} runs {text.name!r}, which has no "
                             f"hyperparameter {', '.join(extra)}; its hyperparameters: "
                             f"{dict(text.hparams)}")
        return text


_REGISTRY: Dict[str, AttributionMethod] = {}
_ALIASES: Dict[str, str] = {}


def register(name: str, *, aliases: Tuple[str, ...] = (), shares_forward: bool = False,
             needs_references: bool = False, requires_xdnn: bool = False,
             complete: bool = False, requires_conv: bool = False, requires_vit: bool = False,
             requires_embeddings: bool = False, uses_target: bool = True,
             differentiable: bool = True, stochastic: bool = False,
             renamed: Optional[Mapping[str, str]] = None,
             summary: str = "") -> Callable[[Callable], Callable]:
    """Decorator registering an attribution function under ``name`` (returns it unchanged)."""

    def decorate(fn: Callable) -> Callable:
        params = inspect.signature(fn).parameters
        hparams = {k: p.default for k, p in params.items()
                   if k not in _CONVENTION and p.default is not inspect.Parameter.empty}
        missing = [k for k, p in params.items() if k not in _CONVENTION
                   and p.default is inspect.Parameter.empty
                   and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if missing:
            raise TypeError(f"attribution method {name!r}: arguments {missing} need defaults")
        if shares_forward and "outputs" not in params:
            raise TypeError(f"attribution method {name!r} shares the forward but takes no outputs=")
        if needs_references and "references" not in params:
            raise TypeError(f"attribution method {name!r} needs references but takes no references=")
        doc = (fn.__doc__ or "").strip().splitlines()
        register_method(AttributionMethod(
            name=name, fn=fn, aliases=tuple(aliases), shares_forward=shares_forward,
            needs_references=needs_references, requires_xdnn=requires_xdnn, complete=complete,
            requires_conv=requires_conv, requires_vit=requires_vit,
            requires_embeddings=requires_embeddings, uses_target=uses_target,
            differentiable=differentiable,
            stochastic=stochastic,
            accepts_baseline="baseline" in params, accepts_references="references" in params,
            hparams=hparams, renamed=dict(renamed or {}),
            summary=summary or (doc[0] if doc else name)))
        return fn

    return decorate


def register_method(method: AttributionMethod) -> AttributionMethod:
    """Register a ready :class:`AttributionMethod` (e.g. a wrapper built at run time)."""
    for key in (method.name, *method.aliases):
        owner = _ALIASES.get(key)
        if owner is not None and _REGISTRY[owner].fn is not method.fn:
            raise ValueError(f"attribution method name {key!r} is already taken by {owner!r}")
    _REGISTRY[method.name] = method
    _ALIASES[method.name] = method.name
    for alias in method.aliases:
        _ALIASES[alias] = method.name
    return method


def resolve_method(name: str) -> str:
    """Canonical name of a method or alias; ``ValueError`` listing the choices otherwise."""
    key = _ALIASES.get(str(name))
    if key is None:
        raise ValueError(f"unknown attribution method {name!r}; choose one of "
                         f"{['none'] + sorted(_ALIASES)}")
    return key


def _no_wrapper(method: Any) -> AttributionMethod:
    raise TypeError(f"an attribution method is a registered name, got {type(method).__name__}")


# Wraps a callable or a Captum object as a method. priors.attributions.custom installs it when
# the package is imported (custom imports this module, so the dependency points one way).
_wrap_object: Callable[[Any], AttributionMethod] = _no_wrapper


def get_method(name: Any) -> AttributionMethod:
    """The registered :class:`AttributionMethod` for a name or alias; a callable or a Captum
    attribution object is wrapped (:func:`priors.attributions.custom.as_method`)."""
    if not isinstance(name, str):
        return _wrap_object(name)
    return _REGISTRY[resolve_method(name)]


def available_methods(**requirements: bool) -> List[str]:
    """Canonical names, optionally filtered: ``available_methods(differentiable=True)``."""
    return sorted(name for name, m in _REGISTRY.items()
                  if all(getattr(m, key) == value for key, value in requirements.items()))


def attribute(method: str, model: Callable[[Tensor], Tensor], inputs: Tensor, target: Any = None,
              **kwargs: Any) -> Tensor:
    """Run a registered method by name: ``attribute("ig", model, x, 3, n_steps=64)``."""
    return get_method(method)(model, inputs, target, **kwargs)
