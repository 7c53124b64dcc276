"""Attribution methods given to :func:`~priors.evaluation.evaluate` in any form, as one thing:
an ``explain(model, x, target) -> Tensor`` function plus the attributions of the inputs.

A method may be a registry name (``"ig"``), a spec ``{"method": "ig", "n_steps": 64}``, a
callable ``fn(model, x, target)`` (or ``fn(x, target)``, bound to its own model), an object
with Captum's ``attribute(inputs, target=...)`` method, or a precomputed tensor of
attributions (then metrics that re-run the method cannot be computed for it).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional

import torch
from torch import Tensor

from ..attributions import get_method
from ..core.targets import slice_target

Explain = Callable[[Any, Tensor, Any], Tensor]


@dataclass
class Explainer:
    """One method: its label, ``explain`` (``None`` for precomputed attributions) and those
    attributions, when given."""

    label: str
    explain: Optional[Explain]
    precomputed: Optional[Tensor] = None


def _batched(fn: Explain, batch_size: int) -> Explain:
    def explain(model, x: Tensor, target) -> Tensor:
        parts = []
        for lo in range(0, x.shape[0], batch_size):
            rows = slice(lo, min(lo + batch_size, x.shape[0]))
            parts.append(fn(model, x[rows], slice_target(target, rows)).detach())
        out = torch.cat(parts) if parts else x.new_zeros(x.shape)
        if out.shape != x.shape:
            raise ValueError(f"method returned attributions of shape {tuple(out.shape)} for "
                             f"inputs {tuple(x.shape)}; expected the inputs' shape")
        return out
    return explain


def _registry(spec: Mapping[str, Any], references: Any, baseline: Any) -> Explain:
    spec = dict(spec)
    method = get_method(spec.pop("method"))
    base = spec.pop("baseline", baseline)
    hparams = method.check_hparams(spec)

    def explain(model, x: Tensor, target) -> Tensor:
        b = base[: len(x)] if isinstance(base, Tensor) and base.dim() == x.dim() else base
        return method(model, x, target, references=references, baseline=b, **hparams)
    return explain


def _callable(fn: Callable) -> Explain:
    try:
        n = len([p for p in inspect.signature(fn).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
    except (TypeError, ValueError):
        n = 3
    if n >= 3:
        return lambda model, x, target: fn(model, x, target)
    return lambda model, x, target: fn(x, target)  # bound to its own model


def _captum(obj: Any) -> Explain:
    def explain(model, x: Tensor, target) -> Tensor:
        return obj.attribute(x, target=target)
    return explain


def _label(method: Any, i: int) -> str:
    if isinstance(method, str):
        return method
    if isinstance(method, Mapping):
        return str(method.get("label", method.get("method", f"method{i}")))
    if isinstance(method, Tensor):
        return f"attributions{i}"
    return getattr(method, "__name__", type(method).__name__)


def explainers(methods: Any, references: Any = None, baseline: Any = None,
               batch_size: int = 256) -> Dict[str, Explainer]:
    """``{label: Explainer}`` from a list or ``{label: method}`` mapping of methods in any of
    the forms of this module."""
    if isinstance(methods, (str, Tensor, Mapping)) and not (
            isinstance(methods, Mapping) and "method" not in methods):
        methods = [methods]
    items = (list(methods.items()) if isinstance(methods, Mapping)
             else [(_label(m, i), m) for i, m in enumerate(methods)])
    out: Dict[str, Explainer] = {}
    for label, method in items:
        label = str(label)
        if label in out:
            raise ValueError(f"two methods are labelled {label!r}; pass {{label: method}}")
        if isinstance(method, Tensor):
            out[label] = Explainer(label, None, method.detach())
            continue
        if isinstance(method, str):
            method = {"method": method}
        if isinstance(method, Mapping):
            spec = {k: v for k, v in method.items() if k != "label"}
            spec.setdefault("method", label)
            fn = _registry(spec, references, baseline)
        elif hasattr(method, "attribute") and callable(method.attribute):
            fn = _captum(method)
        elif callable(method):
            fn = _callable(method)
        else:
            raise TypeError(f"method {label!r}: expected a registry name, a spec dict, a "
                            f"callable, a Captum attribution object or a tensor; got "
                            f"{type(method).__name__}")
        out[label] = Explainer(label, _batched(fn, batch_size))
    return out
