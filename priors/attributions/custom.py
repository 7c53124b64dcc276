"""Methods as users bring them: a callable ``(model, inputs, target) -> attributions`` or a
Captum attribution object, wherever a registered method's name is accepted.

:func:`as_method` turns either into an :class:`~priors.attributions.registry.AttributionMethod`
(not registered: the name is the user's, for result tables), and
:func:`~priors.attributions.registry.get_method` calls it for anything that is not a name, so
``Prior``, :func:`priors.evaluation.compute_attributions`, the sanity checks and the callbacks
take them unchanged::

    Prior(my_saliency, "l1", name="my_saliency")        # differentiable: takes create_graph
    compute_attributions(model, x, {"captum_ig": IntegratedGradients(model)}, target=y)

* A **callable** is called as ``fn(model, inputs, target)``, plus ``create_graph=`` if its
  signature takes it; only then can it be a training prior (``differentiable``). Its keyword
  arguments with defaults are its hyperparameters.
* A **Captum** attribution object (anything with ``attribute`` and ``forward_func``, e.g.
  ``captum.attr.IntegratedGradients(model)``) is called as ``obj.attribute(inputs,
  target=target)``; when asked about another model than its own (the sanity checks' randomized
  copies), a new object of the same class is built for that model. Captum's attributions are
  not differentiable w.r.t. the parameters, so it cannot be a training prior.
"""
from __future__ import annotations

import inspect
from typing import Any, Optional

from torch import Tensor

from . import registry as _registry
from .registry import _CONVENTION, AttributionMethod, get_method


def _is_captum(obj: Any) -> bool:
    return callable(getattr(obj, "attribute", None)) and hasattr(obj, "forward_func")


def _captum_fn(obj: Any):
    def attribute(model, inputs: Tensor, target=None, create_graph: bool = False) -> Tensor:
        attr = obj
        if model is not None and model is not obj.forward_func:
            try:  # the same method for this model (e.g. a randomized copy)
                attr = type(obj)(model)
            except TypeError as err:
                raise ValueError(f"the Captum {type(obj).__name__} object explains its own "
                                 f"model and cannot be rebuilt for another one ({err}); create "
                                 "it for the model being explained") from None
        out = attr.attribute(inputs, target=target)
        return out[0] if isinstance(out, tuple) else out

    return attribute


def as_method(method: Any, name: Optional[str] = None) -> AttributionMethod:
    """An :class:`AttributionMethod` for a registered name, a callable or a Captum object."""
    if isinstance(method, AttributionMethod):
        return method
    if isinstance(method, str):
        return get_method(method)
    if _is_captum(method):
        return AttributionMethod(name=name or type(method).__name__, fn=_captum_fn(method),
                                 differentiable=False, summary=f"Captum {type(method).__name__}")
    if not callable(method):
        raise TypeError(f"an attribution method is a registered name, a callable (model, inputs,"
                        f" target) -> attributions or a Captum attribution object; got "
                        f"{type(method).__name__}")
    params = inspect.signature(method).parameters
    takes_graph = "create_graph" in params
    hparams = {k: p.default for k, p in params.items() if k not in _CONVENTION
               and p.default is not inspect.Parameter.empty}

    def call(model, inputs: Tensor, target=None, create_graph: bool = False, **kw) -> Tensor:
        if takes_graph:
            kw["create_graph"] = create_graph
        return method(model, inputs, target, **kw)

    label = name or getattr(method, "__name__", type(method).__name__)
    return AttributionMethod(name=label, fn=call, differentiable=takes_graph, hparams=hparams,
                             summary=(inspect.getdoc(method) or label).splitlines()[0])


_registry._wrap_object = as_method  # get_method(callable) wraps through as_method
