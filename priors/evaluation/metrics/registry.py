"""The registry of evaluation metrics: each metric file registers itself, everything else reads.

A metric is a function whose file declares, next to the definition, what an evaluation must
know about it::

    @register("sparseness", family="complexity", higher_is_better=True, quantus="Sparseness")
    def sparseness(attributions): ...

and :func:`priors.evaluation.evaluate`, :func:`~priors.evaluation.evaluate_run`
(``evaluate.py``), the report, the docs' metric table (:func:`metric_table`) and the
registry-wide tests find it here. Nothing else lists metrics.

Kinds of metric (``kind``):

* ``example``: ``fn(model, x, attributions, target, ...) -> Tensor (N,)``, one score per
  example (averaged by :func:`~priors.evaluation.evaluate`, with its standard error);
* ``dataset``: the same arguments, one ``float`` for the whole set (e.g. the area under a
  keep/remove curve of AUROC, which no single example has);
* ``check``: an axiom check ``fn(model, x, methods, target, ...) -> DataFrame`` that runs the
  methods itself (completeness, implementation invariance, ...);
* ``run``: a study of a training *run directory* that retrains or randomizes the model
  (ROAR, sanity checks): ``fn(run_dir, out_dir=..., ...) -> DataFrame``.

Context arguments (the names in :data:`CONTEXT`) are offered by the caller; a metric receives
those its signature declares. Every other keyword argument with a default is a hyperparameter,
read from the signature. ``needs`` names what the caller must supply: ``masks`` (annotation
masks), ``fill`` (a replacement value / baseline for removed features), ``explain`` (the method
itself, re-run on perturbed inputs or models), ``labels``, ``retraining``.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple

import pandas as pd

FAMILIES = ("faithfulness", "localisation", "robustness", "complexity", "randomisation",
            "axiomatic")
KINDS = ("example", "dataset", "check", "run")
NEEDS = ("masks", "fill", "explain", "labels", "retraining")
# Arguments a caller offers; every other keyword argument of a metric is a hyperparameter.
CONTEXT = ("model", "x", "attributions", "target", "y", "masks", "fill", "explain", "task",
           "num_classes", "methods", "references", "run_dir", "out_dir", "max_elements")
# A context argument that, when required by the signature, implies a need.
_IMPLIED = {"masks": "masks", "fill": "fill", "explain": "explain", "y": "labels"}


@dataclass(frozen=True)
class EvaluationMetric:
    """What an evaluation needs to know about one metric.

    Attributes:
        name: canonical name (``metrics=[...]`` of :func:`~priors.evaluation.evaluate`,
            ``metric=[...]`` of ``evaluate.py``).
        fn: the metric function.
        family: one of :data:`FAMILIES`.
        higher_is_better: the direction of a better explanation.
        kind: one of :data:`KINDS`.
        needs: what the caller must supply (subset of :data:`NEEDS`).
        quantus: the name of the equivalent Quantus class (compared in
            ``tests/test_metrics_quantus.py``), ``None`` where Quantus has none.
        context: the context arguments the function takes.
        hparams: hyperparameter names and defaults, from the function's signature.
        summary: first line of the docstring.
    """

    name: str
    fn: Callable[..., Any]
    family: str
    higher_is_better: bool
    kind: str = "example"
    needs: FrozenSet[str] = frozenset()
    quantus: Optional[str] = None
    aliases: Tuple[str, ...] = ()
    context: Tuple[str, ...] = ()
    hparams: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""

    @property
    def direction(self) -> str:
        """``"higher"`` or ``"lower"``: which side is the better explanation."""
        return "higher" if self.higher_is_better else "lower"

    def check_hparams(self, kwargs: Mapping[str, Any]) -> Dict[str, Any]:
        """Validated hyperparameters: unknown names fail with the valid ones named."""
        unknown = sorted(set(kwargs) - set(self.hparams))
        if unknown:
            valid = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items()) or "none"
            raise ValueError(f"metric {self.name!r} has no hyperparameter {', '.join(unknown)}; "
                             f"its hyperparameters (defaults): {valid}")
        return dict(kwargs)

    def check_context(self, context: Mapping[str, Any]) -> None:
        """``ValueError`` naming what is missing when a need is not supplied."""
        for need in sorted(self.needs):
            key = {"labels": "y"}.get(need, need)
            if need == "retraining":
                continue
            if context.get(key) is None:
                what = {"masks": "annotation masks (masks=, a boolean tensor shaped like the "
                                 "inputs or (N, H, W))",
                        "fill": "a fill / baseline value for removed features (fill=)",
                        "explain": "the attribution method itself (a registry name or a "
                                   "callable), not only precomputed attributions",
                        "labels": "labels (y=)"}[need]
                raise ValueError(f"metric {self.name!r} needs {what}; none was given")

    def __call__(self, **context: Any) -> Any:
        """Call with any context (only the declared names are passed) plus hyperparameters."""
        hparams = {k: context.pop(k) for k in list(context) if k not in CONTEXT}
        kwargs = self.check_hparams(hparams)
        self.check_context(context)
        kwargs.update({k: v for k, v in context.items() if k in self.context})
        return self.fn(**kwargs)


_REGISTRY: Dict[str, EvaluationMetric] = {}
_ALIASES: Dict[str, str] = {}


def register(name: str, *, family: str, higher_is_better: bool, kind: str = "example",
             needs: Tuple[str, ...] = (), quantus: Optional[str] = None,
             aliases: Tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator registering a metric function under ``name`` (returns it unchanged)."""
    if family not in FAMILIES:
        raise ValueError(f"metric {name!r}: family must be one of {FAMILIES}, got {family!r}")
    if kind not in KINDS:
        raise ValueError(f"metric {name!r}: kind must be one of {KINDS}, got {kind!r}")
    bad = sorted(set(needs) - set(NEEDS))
    if bad:
        raise ValueError(f"metric {name!r}: unknown needs {bad}; choose from {NEEDS}")

    def decorate(fn: Callable) -> Callable:
        params = inspect.signature(fn).parameters
        context = tuple(k for k in params if k in CONTEXT)
        hparams = {k: p.default for k, p in params.items()
                   if k not in CONTEXT and p.default is not inspect.Parameter.empty}
        missing = [k for k, p in params.items() if k not in CONTEXT
                   and p.default is inspect.Parameter.empty
                   and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if missing:
            raise TypeError(f"metric {name!r}: arguments {missing} need defaults")
        implied = {_IMPLIED[k] for k, p in params.items()
                   if k in _IMPLIED and p.default is inspect.Parameter.empty}
        doc = inspect.getdoc(fn) or ""
        if not doc:
            raise TypeError(f"metric {name!r} needs a docstring citing its paper")
        metric = EvaluationMetric(
            name=name, fn=fn, family=family, higher_is_better=bool(higher_is_better), kind=kind,
            needs=frozenset(needs) | implied, quantus=quantus, aliases=tuple(aliases),
            context=context, hparams=hparams, summary=doc.splitlines()[0])
        for key in (name, *aliases):
            owner = _ALIASES.get(key)
            if owner is not None and _REGISTRY[owner].fn is not fn:
                raise ValueError(f"metric name {key!r} is already taken by {owner!r}")
        _REGISTRY[name] = metric
        for key in (name, *aliases):
            _ALIASES[key] = name
        return fn

    return decorate


def get_metric(name: str) -> EvaluationMetric:
    """The registered :class:`EvaluationMetric` for a name or alias."""
    key = _ALIASES.get(str(name))
    if key is None:
        raise ValueError(f"unknown metric {name!r}; choose one of {sorted(_ALIASES)}")
    return _REGISTRY[key]


def available_metrics(**requirements: Any) -> List[str]:
    """Canonical names, optionally filtered: ``available_metrics(family="localisation")``."""
    return sorted(name for name, m in _REGISTRY.items()
                  if all(getattr(m, key) == value for key, value in requirements.items()))


def metric_table() -> pd.DataFrame:
    """One row per registered metric (the docs' metric table): name, family, kind, direction,
    needs, hyperparameters, Quantus equivalent and summary."""
    rows = [{"metric": m.name, "family": m.family, "kind": m.kind, "better": m.direction,
             "needs": ", ".join(sorted(m.needs)) or "-",
             "hyperparameters": ", ".join(f"{k}={v!r}" for k, v in m.hparams.items()) or "-",
             "quantus": m.quantus or "-", "summary": m.summary}
            for m in _REGISTRY.values()]
    frame = pd.DataFrame(rows)
    order = {f: i for i, f in enumerate(FAMILIES)}
    return frame.sort_values(["family", "metric"], key=lambda c: c.map(order)
                             if c.name == "family" else c).reset_index(drop=True)
