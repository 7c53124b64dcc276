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
import importlib
from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ..core.dotted import import_dotted
from ..core.norm_stats import frozen_running_stats

_LINEAR = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
           nn.ConvTranspose3d)

# The allow-list: leaves that are positively homogeneous of degree 1 (given no bias), in
# training and in eval mode. Dropout multiplies by a mask, which is homogeneous; AlphaDropout and
# FeatureAlphaDropout are affine in training mode and are therefore not listed. Any other leaf
# type is refused unless vouched for (``trusted=`` or a class attribute ``__homogeneous__ = True``).
HOMOGENEOUS_LAYERS: Tuple[type, ...] = _LINEAR + (
    nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
    nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.PixelShuffle, nn.PixelUnshuffle,
    nn.Upsample, nn.ChannelShuffle,
)

# Layers known to break f(a x) = a f(x) (named with a specific reason; everything outside the
# allow-list is refused anyway): normalizations subtract means / divide by scales (degree 0 or
# affine), saturating and smooth activations are not linear along rays.
NON_HOMOGENEOUS_LAYERS: Tuple[type, ...] = (
    _BatchNorm, _InstanceNorm, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm,
    nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.SELU, nn.CELU, nn.Softplus, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.ReLU6, nn.Softmax, nn.LogSoftmax, nn.Softmin,
    nn.Softsign, nn.Tanhshrink, nn.Threshold, nn.LogSigmoid, nn.Hardshrink, nn.Softshrink,
    nn.MultiheadAttention, nn.Bilinear, nn.Embedding, nn.RNNBase, nn.AlphaDropout,
    nn.FeatureAlphaDropout, nn.GLU, nn.RNNCellBase,
)

Trusted = Iterable[Union[type, str]]


def _trusted_types(trusted: Trusted) -> Tuple[type, ...]:
    """Layer types from classes or ``"package.module.Class"`` paths (for Hydra configs)."""
    out = []
    for t in trusted or ():
        if isinstance(t, str):
            t = import_dotted(t, f"trusted layer {t!r}")
        if not isinstance(t, type) or not issubclass(t, nn.Module):
            raise TypeError(f"trusted layers must be nn.Module subclasses, got {t!r}")
        out.append(t)
    return tuple(out)


def _bookkeeping(model: nn.Module) -> set:
    """Modules that are no part of the model's function: metrics (and what they hold) and
    losses, which a LightningModule attributed as a whole may carry."""
    try:
        from torchmetrics import Metric
    except ImportError:  # pragma: no cover - torchmetrics is a dependency
        Metric = ()  # type: ignore[assignment]
    out = set()
    for m in model.modules():
        if isinstance(m, Metric) or isinstance(m, nn.modules.loss._Loss):
            out.update(m.modules())
    return out


def _vouched(module: nn.Module, trusted: Tuple[type, ...]) -> bool:
    if isinstance(module, HOMOGENEOUS_LAYERS) or isinstance(module, trusted):
        return True
    if getattr(type(module), "__homogeneous__", False) is True:
        return True
    # ConstantPad adds a constant: homogeneous only when it pads with zeros.
    return isinstance(module, nn.modules.padding._ConstantPadNd) and module.value == 0


class NonHomogeneousError(ValueError):
    """The model is not nonnegatively homogeneous, so X-Gradient would not equal IG."""


def find_non_homogeneous(model: nn.Module, trusted: Trusted = ()) -> List[Tuple[str, str]]:
    """Structural check: ``(layer name, reason)`` for every part that breaks homogeneity.

    An allow-list: every leaf module must be a known homogeneous layer
    (:data:`HOMOGENEOUS_LAYERS`), a type listed in ``trusted`` (classes or dotted paths) or a
    class declaring ``__homogeneous__ = True``; linear/conv layers must carry no bias, and no
    module may hold a bias-like parameter. Operations done functionally inside a custom
    ``forward`` are invisible here; :func:`check_homogeneity` tests the function numerically.
    """
    trusted_types = _trusted_types(trusted)
    problems = []
    skipped = _bookkeeping(model)
    for name, module in model.named_modules():
        if module in skipped:
            continue
        label = name or "<root>"
        kind = type(module).__name__
        if isinstance(module, NON_HOMOGENEOUS_LAYERS) and not isinstance(module, trusted_types):
            problems.append((label, f"{kind} is not nonnegatively homogeneous"))
            continue
        if isinstance(module, _LINEAR):
            if module.bias is not None:
                problems.append((label, f"{kind} has a bias"))
            continue
        for pname, _ in module.named_parameters(recurse=False):
            if "bias" in pname.lower():
                problems.append((label, f"{kind} has a bias-like parameter {pname!r}"))
        is_leaf = next(module.children(), None) is None
        if is_leaf and not _vouched(module, trusted_types):
            problems.append((label, f"{kind} is not a known homogeneous layer (if it is, vouch "
                                    f"for it: trusted=[{type(module).__module__}.{kind}] or "
                                    "the class attribute __homogeneous__ = True)"))
    return problems


def _describe(problems: Sequence[Tuple[str, str]]) -> str:
    shown = "; ".join(f"layer '{n}': {r}" for n, r in problems[:8])
    more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
    return shown + more


def assert_structurally_homogeneous(model: nn.Module, purpose: str = "X-Gradient",
                                    trusted: Trusted = ()) -> None:
    problems = find_non_homogeneous(model, trusted)
    if problems:
        raise NonHomogeneousError(
            f"{purpose} needs a nonnegatively homogeneous model (an X-DNN), but "
            f"{_describe(problems)}. Remove biases with priors.to_xdnn(model) (or model=xmlp in "
            "Hydra) and replace normalization / non-ReLU activations."
        )


def to_xdnn(model: nn.Module, inplace: bool = False, trusted: Trusted = ()) -> nn.Module:
    """Return a copy of ``model`` with the bias of every Linear/Conv layer removed.

    Works on torchvision's ``alexnet`` and ``vgg16`` (no BatchNorm) as they come; a
    ``UserWarning`` notes that the biases are gone and the accuracy changes until fine-tuned.
    Refuses, naming the layer, models with parts that removing biases cannot fix
    (normalization layers, non-homogeneous activations, bias-carrying custom layers, leaf
    layers outside the allow-list that ``trusted`` does not vouch for).
    """
    problems = [(n, r) for n, r in find_non_homogeneous(model, trusted)
                if not r.endswith("has a bias")]
    if problems:
        raise NonHomogeneousError(
            f"cannot turn this model into an X-DNN: {_describe(problems)}. Removing the biases of "
            "Linear/Conv layers is not enough; replace these parts."
        )
    xmodel = model if inplace else copy.deepcopy(model)
    removed = 0
    for module in xmodel.modules():
        if isinstance(module, _LINEAR) and module.bias is not None:
            module.bias = None
            removed += 1
    if removed:
        # A trained network (e.g. torchvision's AlexNet / VGG-16) computes another function
        # without its biases: say so, since the accuracy only comes back with fine-tuning.
        warnings.warn(f"to_xdnn: {removed} biases dropped: the X-DNN computes a different "
                      "function than the original, and its accuracy changes until it is "
                      "fine-tuned", UserWarning, stacklevel=2)
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
    mode: str = "current",
) -> HomogeneityCheck:
    """Numerically test :math:`f(a x) = a f(x)` for the given ``scales`` (all > 0).

    The default scales are powers of two: multiplying by them is exact in every floating-point
    format, so an X-DNN passes up to summation order even with TF32 or bf16 kernels.

    The relative error is ``max |f(a x) - a f(x)| / max |a f(x)|``; the tolerance ``rtol``
    defaults to 1e-4 in float32 and 1e-9 in float64. ``mode="current"`` (default) tests the
    model in the mode its modules are in, the mode a training prior runs in: in training mode
    each forward sees the same random stream, so dropout draws the same mask for ``x`` and
    ``a x`` (and AlphaDropout, affine in training mode, fails); ``mode="eval"`` tests the
    evaluation function. Runs without gradients and outside autocast, leaves the global RNG,
    normalization statistics and training flags as it found them.
    """
    if any(a <= 0 for a in scales):
        raise ValueError("scales must be positive")
    if mode not in ("current", "eval"):
        raise ValueError(f"mode must be 'current' or 'eval', got {mode!r}")
    if rtol is None:
        rtol = 1e-9 if inputs.dtype == torch.float64 else 1e-4
    # Restore each submodule's own flag: a user may keep parts (frozen BatchNorm) in eval.
    modes = [(m, m.training) for m in model.modules()]
    if mode == "eval":
        model.eval()
    devices = [inputs.device] if inputs.device.type == "cuda" else []
    seed = 0

    def run(z: Tensor) -> Tensor:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return model(z)

    try:
        # Autocast (bf16/fp16) rounding would swamp the tolerance: check in full precision.
        with torch.no_grad(), torch.autocast(inputs.device.type, enabled=False), \
                frozen_running_stats(model), torch.random.fork_rng(devices=devices):
            seed = int(torch.randint(2**62, ()).item())  # drawn inside fork_rng: no trace
            base = run(inputs)
            worst, worst_scale = 0.0, float(scales[0])
            for a in scales:
                expected = a * base
                err = (run(a * inputs) - expected).abs().max()
                rel = float(err / expected.abs().max().clamp_min(torch.finfo(inputs.dtype).tiny))
                if rel > worst:
                    worst, worst_scale = rel, float(a)
    finally:
        for m, was_training in modes:
            m.training = was_training
    return HomogeneityCheck(passed=worst <= rtol, max_rel_error=worst, worst_scale=worst_scale)


def assert_homogeneous(model: nn.Module, inputs: Tensor, purpose: str = "X-Gradient",
                       trusted: Trusted = (), mode: str = "current") -> None:
    """Structural and numeric check; raises :class:`NonHomogeneousError` naming the problem."""
    assert_structurally_homogeneous(model, purpose, trusted)
    result = check_homogeneity(model, inputs, mode=mode)
    if not result:
        where = "training" if mode == "current" and model.training else "evaluation"
        raise NonHomogeneousError(
            f"{purpose} needs a nonnegatively homogeneous model, but f(a x) differs from a f(x) "
            f"by a relative {result.max_rel_error:.3g} at a={result.worst_scale} on this batch "
            f"(model in {where} mode). A custom forward probably adds constants or applies a "
            "non-homogeneous function."
        )
