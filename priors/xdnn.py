"""X-DNNs: nonnegatively homogeneous networks, on which X-Gradient equals Integrated Gradients.

Hesse, Schaub-Meyer and Roth, "Fast Axiomatic Attribution for Neural Networks", NeurIPS 2021,
https://arxiv.org/abs/2111.07668. A network is nonnegatively homogeneous (of degree 1) if
:math:`f(\\alpha x) = \\alpha f(x)` for all :math:`\\alpha \\ge 0`; ReLU networks whose linear and
convolutional layers carry no bias (and no BatchNorm) are. For such networks
:math:`x \\odot \\nabla f(x)` is exactly Integrated Gradients with a zero baseline.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

_LINEAR = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
           nn.ConvTranspose3d)

# Leaves that are positively homogeneous of degree 1 (given no bias).
HOMOGENEOUS_LAYERS: Tuple[type, ...] = _LINEAR + (
    nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
    nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.PixelShuffle, nn.PixelUnshuffle,
    nn.Upsample, nn.ChannelShuffle,
)

# Layers that break f(a x) = a f(x): normalizations subtract means / divide by scales (degree 0
# or affine), saturating and smooth activations are not linear along rays.
NON_HOMOGENEOUS_LAYERS: Tuple[type, ...] = (
    _BatchNorm, _InstanceNorm, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm,
    nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.SELU, nn.CELU, nn.Softplus, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.ReLU6, nn.Softmax, nn.LogSoftmax, nn.Softmin,
    nn.Softsign, nn.Tanhshrink, nn.Threshold, nn.LogSigmoid, nn.Hardshrink, nn.Softshrink,
    nn.MultiheadAttention, nn.Bilinear, nn.Embedding, nn.RNNBase,
)


class NonHomogeneousError(ValueError):
    """The model is not nonnegatively homogeneous, so X-Gradient would not equal IG."""


def find_non_homogeneous(model: nn.Module) -> List[Tuple[str, str]]:
    """Structural check: ``(layer name, reason)`` for every part that breaks homogeneity.

    Catches biases of linear/conv layers, bias-like parameters of custom layers, normalization
    layers and non-homogeneous activation modules. Operations done functionally inside a custom
    ``forward`` are invisible here; :func:`check_homogeneity` tests the function numerically.
    """
    problems = []
    for name, module in model.named_modules():
        label = name or "<root>"
        kind = type(module).__name__
        if isinstance(module, NON_HOMOGENEOUS_LAYERS):
            problems.append((label, f"{kind} is not nonnegatively homogeneous"))
            continue
        if isinstance(module, _LINEAR):
            if module.bias is not None:
                problems.append((label, f"{kind} has a bias"))
            continue
        for pname, _ in module.named_parameters(recurse=False):
            if "bias" in pname.lower():
                problems.append((label, f"{kind} has a bias-like parameter {pname!r}"))
    return problems


def _describe(problems: Sequence[Tuple[str, str]]) -> str:
    shown = "; ".join(f"layer '{n}': {r}" for n, r in problems[:8])
    more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
    return shown + more


def assert_structurally_homogeneous(model: nn.Module, purpose: str = "X-Gradient") -> None:
    problems = find_non_homogeneous(model)
    if problems:
        raise NonHomogeneousError(
            f"{purpose} needs a nonnegatively homogeneous model (an X-DNN), but "
            f"{_describe(problems)}. Remove biases with priors.to_xdnn(model) (or model=xmlp in "
            "Hydra) and replace normalization / non-ReLU activations."
        )


def to_xdnn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Return a copy of ``model`` with the bias of every Linear/Conv layer removed.

    Refuses, naming the layer, models with parts that removing biases cannot fix
    (normalization layers, non-homogeneous activations, bias-carrying custom layers).
    """
    problems = [(n, r) for n, r in find_non_homogeneous(model) if not r.endswith("has a bias")]
    if problems:
        raise NonHomogeneousError(
            f"cannot turn this model into an X-DNN: {_describe(problems)}. Removing the biases of "
            "Linear/Conv layers is not enough; replace these parts."
        )
    xmodel = model if inplace else copy.deepcopy(model)
    for module in xmodel.modules():
        if isinstance(module, _LINEAR) and module.bias is not None:
            module.bias = None
    unknown = sorted({type(m).__name__ for m in xmodel.modules()
                      if not list(m.children()) and not isinstance(m, HOMOGENEOUS_LAYERS)})
    if unknown:
        warnings.warn(
            f"to_xdnn cannot verify layers of type {unknown} structurally; use "
            "priors.check_homogeneity(model, x) to test f(a x) == a f(x) numerically",
            stacklevel=2,
        )
    return xmodel


@dataclass
class HomogeneityCheck:
    """Result of :func:`check_homogeneity`; truthy when the model passed."""

    passed: bool
    max_rel_error: float
    worst_scale: float

    def __bool__(self) -> bool:
        return self.passed


def check_homogeneity(
    model: nn.Module,
    inputs: Tensor,
    scales: Sequence[float] = (0.5, 2.0, 4.0),
    rtol: float | None = None,
) -> HomogeneityCheck:
    """Numerically test :math:`f(a x) = a f(x)` for the given ``scales`` (all > 0).

    The default scales are powers of two: multiplying by them is exact in every floating-point
    format, so an X-DNN passes up to summation order even with TF32 or bf16 kernels.

    The relative error is ``max |f(a x) - a f(x)| / max |a f(x)|``; the tolerance ``rtol``
    defaults to 1e-4 in float32 and 1e-9 in float64. Runs in eval mode (dropout off), without
    gradients and outside autocast, and restores the training flag.
    """
    if any(a <= 0 for a in scales):
        raise ValueError("scales must be positive")
    if rtol is None:
        rtol = 1e-9 if inputs.dtype == torch.float64 else 1e-4
    # Restore each submodule's own flag: a user may keep parts (frozen BatchNorm) in eval.
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        # Autocast (bf16/fp16) rounding would swamp the tolerance: check in full precision.
        with torch.no_grad(), torch.autocast(inputs.device.type, enabled=False):
            base = model(inputs)
            worst, worst_scale = 0.0, float(scales[0])
            for a in scales:
                expected = a * base
                err = (model(a * inputs) - expected).abs().max()
                rel = float(err / expected.abs().max().clamp_min(torch.finfo(inputs.dtype).tiny))
                if rel > worst:
                    worst, worst_scale = rel, float(a)
    finally:
        for m, mode in modes:
            m.training = mode
    return HomogeneityCheck(passed=worst <= rtol, max_rel_error=worst, worst_scale=worst_scale)


def assert_homogeneous(model: nn.Module, inputs: Tensor, purpose: str = "X-Gradient") -> None:
    """Structural and numeric check; raises :class:`NonHomogeneousError` naming the problem."""
    assert_structurally_homogeneous(model, purpose)
    result = check_homogeneity(model, inputs)
    if not result:
        raise NonHomogeneousError(
            f"{purpose} needs a nonnegatively homogeneous model, but f(a x) differs from a f(x) "
            f"by a relative {result.max_rel_error:.3g} at a={result.worst_scale} on this batch. "
            "A custom forward probably adds constants or applies a non-homogeneous function."
        )
