"""Attributions of many registered methods on an evaluation set, in batches, timed."""
from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Tuple

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..attributions import get_method
from ..core.targets import Target, slice_target

# Keys of a method spec that are not hyperparameters of the method.
SPEC_KEYS = ("method", "label")


def _label(method: Any) -> str:
    """A method's label in results: its name, a callable's ``__name__``, a Captum class name."""
    if isinstance(method, str):
        return method
    return getattr(method, "__name__", type(method).__name__)


def method_specs(methods: Mapping[str, Any] | list) -> Dict[str, Dict[str, Any]]:
    """Normalize ``{label: {method: name, **hparams}}``, ``{label: name}`` or ``[name, ...]``
    to ``{label: {"method": name, **hparams}}`` (a spec's ``method`` defaults to its label).
    A method may also be a callable ``(model, inputs, target) -> attributions`` or a Captum
    attribution object, listed under its label (``{"my_ig": IntegratedGradients(model)}``)."""
    if isinstance(methods, (list, tuple)):
        methods = {_label(m): {"method": m} for m in methods}
    out = {}
    for label, spec in methods.items():
        if spec is None:
            continue
        # A name, a callable or a Captum object alone, or a spec mapping with hyperparameters.
        spec = dict(spec) if isinstance(spec, Mapping) else {"method": spec}
        spec.setdefault("method", label)
        out[str(spec.pop("label", label))] = spec
    return out


def split_available(specs: Mapping[str, Dict[str, Any]]) -> Tuple[Dict[str, Dict[str, Any]],
                                                                  Dict[str, str]]:
    """``(runnable, skipped)``: specs whose method is registered, and ``{label: reason}`` for
    the others (e.g. a method another branch adds), so one missing method does not stop an
    evaluation of all the others."""
    ok, skipped = {}, {}
    for label, spec in specs.items():
        try:
            get_method(spec["method"])
        except ValueError as err:
            skipped[label] = str(err).split(";")[0]
            continue
        ok[label] = spec
    return ok, skipped


def compute_attributions(model, x: Tensor, methods: Mapping[str, Any], target: Target = None,
                         references: Any = None, batch_size: int = 256,
                         progress: bool = True, baseline: Any = None
                         ) -> Tuple[Dict[str, Tensor], pd.DataFrame]:
    """Attributions ``{label: tensor shaped like x}`` and a timing table.

    Args:
        model: the network (put it in eval mode first).
        x: evaluation inputs ``(N, *features)``.
        methods: method specs (see :func:`method_specs`); hyperparameters are passed to the
            registered method, e.g. ``{"ig": {"method": "ig", "n_steps": 128}}``.
        target: ``None`` (single-logit models), an int, or a LongTensor ``(N,)``.
        references: training inputs (tensor) or a sampler, for methods that need them.
        batch_size: examples per call of a method (bounds memory). Methods with an integer
            ``seed`` hyperparameter get ``seed + i`` for the ``i``-th batch.
        baseline: passed to methods that take one (IG): a value or tensor broadcastable to
            one example, or a tensor shaped like ``x`` (one baseline per example).

    Returns ``(attributions, timings)`` with ``timings`` columns ``method, seconds, examples``.
    """
    specs = method_specs(methods)
    out: Dict[str, Tensor] = {}
    timings = []
    for label, spec in specs.items():
        spec = dict(spec)
        method = get_method(spec.pop("method"))
        # A spec may choose its own baseline (IG with baseline "mean", "blur", ...).
        spec_baseline = spec.pop("baseline", baseline)
        start = time.perf_counter()
        parts = []
        chunks = range(0, x.shape[0], batch_size)
        seed = spec.get("seed", method.hparams.get("seed"))
        for i, lo in enumerate(tqdm(chunks, desc=f"attributions {label}", disable=not progress,
                                    leave=False)):
            rows = slice(lo, min(lo + batch_size, x.shape[0]))
            base = spec_baseline
            if isinstance(base, Tensor) and base.shape == x.shape:
                base = base[rows]
            if isinstance(seed, int) and not isinstance(seed, bool):
                # A seeded method draws the same noise for equally shaped batches: a new seed
                # per chunk keeps the examples of different chunks independent.
                spec["seed"] = seed + i
            attr = method(model, x[rows], slice_target(target, rows), references=references,
                          baseline=base, **spec)
            parts.append(attr.detach())
        out[label] = torch.cat(parts)
        if out[label].shape != x.shape:
            raise ValueError(f"method {label!r} returned attributions of shape "
                             f"{tuple(out[label].shape)} for inputs {tuple(x.shape)}")
        timings.append({"method": label, "seconds": time.perf_counter() - start,
                        "examples": x.shape[0]})
    return out, pd.DataFrame(timings)
