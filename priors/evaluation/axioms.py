"""Axiom checks of attribution methods, each returning a DataFrame (one row per method).

From Sundararajan, Taly and Yan, "Axiomatic Attribution for Deep Networks", ICML 2017
(https://arxiv.org/abs/1703.01365) and Hesse, Schaub-Meyer and Roth, "Fast Axiomatic
Attribution for Neural Networks", NeurIPS 2021 (https://arxiv.org/abs/2111.07668):

* :func:`completeness`: attributions sum to ``f(x) - f(baseline)``. The baseline follows from
  the method's registry entry: methods that need references (Expected Gradients) are compared
  with ``f(x) - E_ref f(ref)``, methods that take a ``baseline`` with that baseline (zeros by
  default), the others (X-Gradient, gradient, ...) with the zero input.
* :func:`sensitivity`: for inputs that differ from the baseline in one feature only and whose
  output differs, that feature gets a non-zero attribution.
* :func:`implementation_invariance`: a network and a functionally equal copy with a hidden
  layer split in two (:func:`split_hidden_layer`) get equal attributions.
* :func:`xg_equals_ig`: X-Gradient equals Integrated Gradients (zero baseline) on X-DNNs.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Optional

import pandas as pd
import torch
from torch import Tensor, nn

from ..attributions import get_method
from ..core.targets import Target, interleave_target, is_single_output, select_output
from ..training.xdnn import find_non_homogeneous
from .attribute import compute_attributions, method_specs


def _baseline(x: Tensor, baseline: Optional[Tensor]) -> Tensor:
    if baseline is None:
        return torch.zeros_like(x)
    return baseline.to(x).expand_as(x)


@torch.no_grad()
def _selected(model, x: Tensor, target: Target) -> Tensor:
    return select_output(model(x), target).double()  # float32 would round outputs ~1e4 to 1e-3


def _reference_mean_output(model, references: Any, target: Target, batch: int) -> Tensor:
    """``E_ref f_t(ref)`` per example: the mean over the reference tensor (or 1024 draws)."""
    refs = references if isinstance(references, Tensor) else references(1024)
    with torch.no_grad():
        out = model(refs)
    if isinstance(target, Tensor) and target.dim():
        # Per-example targets: the mean of each target's output over all references.
        out = out.reshape(len(refs), -1)
        if is_single_output(out):
            return out.double().mean().expand(batch)
        return out.double().mean(0)[target]
    return select_output(out, target).double().mean().expand(batch)


def completeness(model, x: Tensor, methods: Mapping[str, Any] | list, target: Target = None,
                 references: Any = None, baseline: Optional[Tensor] = None,
                 rtol: float = 0.01, batch_size: int = 256) -> pd.DataFrame:
    """Sum of attributions vs ``f(x) - f(baseline)`` per method.

    Columns: ``method, baseline, examples, mean_abs_delta`` (mean ``|f(x) - f(b)|``),
    ``mean_abs_error`` and ``max_abs_error`` (of ``sum(attr) - (f(x) - f(b))``),
    ``relative_error`` (mean error / mean ``|delta|``) and ``holds`` (relative error <= rtol).
    Expected Gradients is a Monte-Carlo estimate: it holds only in expectation, so its error
    shrinks with ``k`` but is not zero.
    """
    specs = method_specs(methods)
    attrs, _ = compute_attributions(model, x, specs, target, references, batch_size,
                                    progress=False, baseline=baseline)
    fx = _selected(model, x, target)
    rows = []
    for label, spec in specs.items():
        info = get_method(spec["method"])
        if info.needs_references:
            ref_out, kind = _reference_mean_output(model, references, target, len(x)), "E[f(ref)]"
        elif info.accepts_baseline and baseline is not None:
            ref_out, kind = _selected(model, _baseline(x, baseline), target), "baseline"
        else:
            ref_out, kind = _selected(model, torch.zeros_like(x), target), "zero"
        delta = fx - ref_out
        error = (attrs[label].flatten(1).double().sum(1) - delta).abs()
        scale = float(delta.abs().mean())
        rel = float(error.mean()) / scale if scale > 0 else float("nan")
        rows.append({"method": label, "baseline": kind, "examples": len(x),
                     "mean_abs_delta": scale, "mean_abs_error": float(error.mean()),
                     "max_abs_error": float(error.max()), "relative_error": rel,
                     "holds": bool(rel <= rtol)})
    return pd.DataFrame(rows)


def sensitivity(model, x: Tensor, methods: Mapping[str, Any] | list, target: Target = None,
                baseline: Optional[Tensor] = None, references: Any = None,
                max_features: int = 32, output_tol: float = 1e-4, attr_tol: float = 1e-8,
                seed: int = 0, batch_size: int = 256) -> pd.DataFrame:
    """Sensitivity(a): one-feature differences that change the output get attribution.

    For every example and (up to ``max_features`` randomly chosen) feature ``i``, the input
    ``z`` equals the baseline (zeros by default) except ``z_i = x_i``. Where
    ``|f(z) - f(baseline)| > output_tol``, the method's attribution of ``z`` (with that
    baseline) must satisfy ``|a_i| > attr_tol``. Columns: ``method, cases`` (pairs whose output
    changed), ``violations``, ``satisfied`` (fraction of cases), ``holds``. Gradient-type
    methods may violate it (a saturated ReLU at ``z`` gives zero gradient); IG satisfies it.
    """
    specs = method_specs(methods)
    base = _baseline(x, baseline)
    n_features = x[0].numel()
    gen = torch.Generator().manual_seed(int(seed))
    features = torch.randperm(n_features, generator=gen)[:max_features].to(x.device)
    b, f = x.shape[0], len(features)
    z = base.flatten(1).repeat_interleave(f, 0)  # (b * f, F): example-major
    rows_idx = torch.arange(b * f, device=x.device)
    feat_idx = features.repeat(b)
    z[rows_idx, feat_idx] = x.flatten(1).repeat_interleave(f, 0)[rows_idx, feat_idx]
    z = z.view(b * f, *x.shape[1:])
    tgt = interleave_target(target, f)
    changed = (_selected(model, z, tgt) - _selected(model, base.repeat_interleave(f, 0), tgt)
               ).abs() > output_tol
    # Methods with a baseline integrate from the same one.
    attrs, _ = compute_attributions(model, z, specs, tgt, references, batch_size, progress=False,
                                    baseline=None if baseline is None else base[:1])
    out = []
    for label in specs:
        a = attrs[label].flatten(1)[rows_idx, feat_idx].abs()
        bad = changed & (a <= attr_tol)
        cases = int(changed.sum())
        out.append({"method": label, "cases": cases, "violations": int(bad.sum()),
                    "satisfied": 1 - int(bad.sum()) / cases if cases else float("nan"),
                    "holds": bool(cases and not bad.any())})
    return pd.DataFrame(out)


class SplitReLULayer(nn.Module):
    """Two half-weight copies of ``Linear + ReLU``, concatenated: ``[relu(z/2), relu(z/2)]``
    with ``z = Wx + b``. Followed by a next layer with duplicated input weights ``[V, V]`` it
    computes ``V relu(z/2) + V relu(z/2) = V relu(z)``: the same function, other parameters."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.halves = nn.ModuleList()
        for _ in range(2):
            half = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
            with torch.no_grad():
                half.weight.copy_(linear.weight / 2)
                if linear.bias is not None:
                    half.bias.copy_(linear.bias / 2)
            self.halves.append(half)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([torch.relu(h(x)) for h in self.halves], dim=-1)


def split_hidden_layer(model: nn.Module) -> nn.Module:
    """A functionally equal copy of an MLP whose first hidden ``Linear -> ReLU`` is split into
    two ReLU halves (:class:`SplitReLULayer`) and whose next ``Linear`` reads both halves.

    Looks for ``Linear, ReLU, [Dropout...], Linear`` in an ``nn.Sequential`` of the model
    (e.g. :class:`priors.models.MLP`); raises ``ValueError`` if there is none.
    """
    twin = copy.deepcopy(model)
    for seq in twin.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        layers = list(seq)
        for i, layer in enumerate(layers[:-2]):
            if not (isinstance(layer, nn.Linear) and isinstance(layers[i + 1], nn.ReLU)):
                continue
            j = i + 2
            while j < len(layers) and isinstance(layers[j], nn.Dropout):
                j += 1
            if j == len(layers) or not isinstance(layers[j], nn.Linear):
                continue
            nxt = layers[j]
            wide = nn.Linear(2 * nxt.in_features, nxt.out_features, bias=nxt.bias is not None)
            with torch.no_grad():
                wide.weight.copy_(torch.cat([nxt.weight, nxt.weight], dim=1))
                if nxt.bias is not None:
                    wide.bias.copy_(nxt.bias)
            seq[i] = SplitReLULayer(layer)  # the ReLU after it is idempotent on its outputs
            seq[j] = wide
            return twin
    raise ValueError("split_hidden_layer needs an nn.Sequential with Linear, ReLU, Linear (an "
                     f"MLP); {type(model).__name__} has none")


def implementation_invariance(model: nn.Module, x: Tensor, methods: Mapping[str, Any] | list,
                              target: Target = None, references: Any = None,
                              twin: Optional[nn.Module] = None, rtol: float = 1e-4,
                              seed: int = 0, batch_size: int = 256) -> pd.DataFrame:
    """Attributions of ``model`` vs a functionally equal ``twin`` (default:
    :func:`split_hidden_layer`), with the same random seed for stochastic methods.

    Columns: ``method, output_max_diff`` (the two networks' outputs), ``max_abs_diff`` of the
    attributions, ``relative_diff`` (divided by the largest attribution) and ``holds``
    (``relative_diff <= rtol``).
    """
    specs = method_specs(methods)
    twin = split_hidden_layer(model) if twin is None else twin
    twin.eval()
    with torch.no_grad():
        out_diff = float((model(x) - twin(x)).abs().max())
    rows = []
    for label, spec in specs.items():
        results = []
        for net in (model, twin):
            torch.manual_seed(seed)  # EG and noise methods draw the same randomness for both
            attrs, _ = compute_attributions(net, x, {label: spec}, target, references,
                                            batch_size, progress=False)
            results.append(attrs[label])
        diff = float((results[0] - results[1]).abs().max())
        scale = float(results[0].abs().max())
        rel = diff / scale if scale > 0 else diff
        rows.append({"method": label, "output_max_diff": out_diff, "max_abs_diff": diff,
                     "relative_diff": rel, "holds": bool(rel <= rtol)})
    return pd.DataFrame(rows)


def xg_equals_ig(model: nn.Module, x: Tensor, target: Target = None, n_steps: int = 128,
                 rtol: float = 1e-3, batch_size: int = 256) -> pd.DataFrame:
    """X-Gradient vs Integrated Gradients with a zero baseline (``n_steps`` Gauss-Legendre
    nodes). Equal on X-DNNs (Hesse et al. 2021); ``structural_xdnn`` says whether the model
    is one structurally (no biases, no non-homogeneous layers). Columns: ``structural_xdnn,
    max_abs_diff, relative_diff`` (divided by the largest IG attribution), ``holds``."""
    attrs, _ = compute_attributions(model, x, {"xg": {"method": "xg"},
                                               "ig": {"method": "ig", "n_steps": n_steps}},
                                    target, None, batch_size, progress=False)
    diff = float((attrs["xg"] - attrs["ig"]).abs().max())
    scale = float(attrs["ig"].abs().max())
    rel = diff / scale if scale > 0 else diff
    problems = find_non_homogeneous(model) if isinstance(model, nn.Module) else []
    return pd.DataFrame([{"structural_xdnn": not problems, "n_steps": n_steps,
                          "examples": len(x), "max_abs_diff": diff, "relative_diff": rel,
                          "holds": bool(rel <= rtol),
                          "first_problem": "; ".join(map(": ".join, problems[:1]))}])


__all__ = ["SplitReLULayer", "completeness", "implementation_invariance", "sensitivity",
           "split_hidden_layer", "xg_equals_ig"]
