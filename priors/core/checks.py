"""Input checks shared by the attribution methods, the prior, the module and the callbacks."""
from __future__ import annotations

import contextlib
import math
import numbers
from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor, nn


def check_finite(tensor: Tensor, name: str = "inputs") -> None:
    """Raise ``ValueError`` if ``tensor`` holds NaN or inf (attributions would be silently NaN)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        n_nan = int(torch.isnan(tensor).sum())
        n_inf = int(torch.isinf(tensor).sum())
        raise ValueError(
            f"{name} contain non-finite values ({n_nan} NaN, {n_inf} inf) in a tensor of shape "
            f"{tuple(tensor.shape)}; impute or drop them before computing attributions"
        )


def check_batched(inputs: Tensor, name: str = "inputs") -> None:
    """A floating-point, finite tensor with a batch dimension."""
    if not isinstance(inputs, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(inputs).__name__}")
    if inputs.dim() < 2:
        raise ValueError(
            f"{name} must be batched with shape (batch, *features); got shape {tuple(inputs.shape)}. "
            "Use inputs.unsqueeze(0) for a single example."
        )
    if not inputs.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {inputs.dtype}")
    check_finite(inputs, name)


def leaf_or_graph_input(inputs: Tensor) -> Tensor:
    """Inputs that take part in autograd: keep a graph-connected tensor, else make a fresh leaf."""
    if inputs.requires_grad:
        return inputs
    return inputs.detach().requires_grad_(True)


def check_not_empty(inputs: Tensor, name: str = "inputs") -> None:
    """An empty batch would give a NaN mean loss (binary) or raw shape errors downstream."""
    if inputs.dim() >= 1 and inputs.shape[0] == 0:
        raise ValueError(f"{name}: empty batch (0 examples, shape {tuple(inputs.shape)}); drop "
                         "empty batches (e.g. DataLoader(drop_last=True) or filter the dataset)")


def check_float_inputs(inputs: Tensor, name: str = "inputs") -> None:
    """Attributions and input gradients need floating-point inputs (integer images, codes...)."""
    if not inputs.is_floating_point():
        raise TypeError(f"{name} must be floating point to be attributed, got dtype "
                        f"{inputs.dtype}; convert them (e.g. x.float() / 255 for uint8 images) "
                        "in the dataset or in on_after_batch_transfer; token ids of a text model "
                        "cannot be differentiated: pass dict batches with input_ids and "
                        "attention_mask, attributed w.r.t. the input embeddings "
                        "(priors.attributions.text)")


class NotAnIntegerError(TypeError, ValueError):
    """An argument that must be an integer is not one. Both a ``TypeError`` and a
    ``ValueError``: ``2.5`` is the wrong kind of value, and callers have caught either."""


def check_integer(value: object, name: str, minimum: Optional[int] = None) -> int:
    """``value`` as an ``int``, the one integer-argument check of the package.

    Accepted: Python and numpy integers, and floats with an integral value (``2.0``: what
    YAML's ``1e3``, a sweeper's float suggestion or ``n / 2`` give; nothing is truncated).
    Refused with :class:`NotAnIntegerError`: bools (``True`` is no count), strings,
    non-integral or non-finite numbers. Below ``minimum``: ``ValueError``.

    >>> check_integer(2.0, "k"), check_integer(3, "k", minimum=1)
    (2, 3)
    >>> check_integer(2.5, "k")
    Traceback (most recent call last):
    ...
    priors.core.checks.NotAnIntegerError: k must be an integer, got 2.5
    """
    integral = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer())
    if isinstance(value, bool) or not integral:
        raise NotAnIntegerError(f"{name} must be an integer, got {value!r}")
    value = int(value)  # type: ignore[call-overload]
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_weight(weight: object, name: str = "prior weight") -> float:
    """A finite, nonnegative number (inf would make every step's loss inf or NaN)."""
    try:
        value = float(weight)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {weight!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite, nonnegative number, got {weight!r}")
    return value


def check_labels(y: Tensor, task: str, num_classes: Optional[int] = None,
                 name: str = "labels") -> None:
    """Binary labels in {0, 1}; class labels integral in [0, num_classes); never NaN."""
    if not isinstance(y, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(y).__name__}")
    if y.numel() == 0:
        return
    if y.is_floating_point() or y.is_complex():
        bad = ~torch.isfinite(y)
        if bool(bad.any()):
            raise ValueError(f"{name} contain {int(bad.sum())} NaN/inf value(s); drop or impute "
                             "those examples")
    if task == "binary":
        ok = (y == 0) | (y == 1)
        if not bool(ok.all()):
            shown = sorted({float(v) for v in y[~ok].flatten()[:5].tolist()})
            raise ValueError(f"binary {name} must be 0 or 1, got values such as {shown}; map "
                             "them to {0, 1} (e.g. y = (y == positive_class).float())")
        return
    if y.is_floating_point():
        frac = y != y.round()
        if bool(frac.any()):
            shown = [float(v) for v in y[frac].flatten()[:5].tolist()]
            raise ValueError(f"class {name} must be integers (class indices), got non-integral "
                             f"values such as {shown}; .long() would silently truncate them")
    if num_classes is not None:
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            raise ValueError(f"class {name} must lie in [0, {num_classes - 1}] "
                             f"(num_classes={num_classes}), got values from {low} to {high}")


# Shape-preserving leaves that may come before the first layer without hiding its input size.
_ELEMENTWISE = (nn.Identity, nn.Dropout, nn.ReLU, nn.LeakyReLU)


def expected_input_size(model: nn.Module) -> Optional[Tuple[str, str, int]]:
    """``(layer name, what, size)`` for the model's first layer, when it can be known.

    ``what`` is ``"features"`` (the last input dimension), ``"flattened"`` (features per example
    after a leading ``nn.Flatten()``) or ``"channels"`` (dimension 1, convolutions). The first
    registered leaf modules are taken as the first ones called, which holds for
    ``nn.Sequential`` models and the models in :mod:`priors.models`; anything else before the
    first Linear/Conv layer (a custom module, a reshape) leaves the size unknown (``None``).
    """
    flattened = False
    for name, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue  # containers: look at their leaves
        if isinstance(module, nn.Linear):
            return name, "flattened" if flattened else "features", module.in_features
        if isinstance(module, nn.modules.conv._ConvNd) and not flattened:
            return name, "channels", module.in_channels
        if isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1:
            flattened = True
        elif not isinstance(module, _ELEMENTWISE):
            return None
    return None


def check_input_dtype(model: nn.Module, inputs: Tensor, name: str = "inputs") -> None:
    """Name a floating dtype mismatch between the inputs and the model's parameters (the raw
    error is "mat1 and mat2 must have the same dtype" from inside the forward)."""
    if not isinstance(inputs, Tensor):  # token batches carry integer ids, embedded by the model
        return
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    if (param is not None and inputs.is_floating_point() and inputs.dtype != param.dtype
            and not torch.is_autocast_enabled(inputs.device.type)):
        raise TypeError(f"{name} are {inputs.dtype} but the model's parameters are "
                        f"{param.dtype}; convert one to the other (x.to({param.dtype}) or "
                        f"model.to({inputs.dtype}))")


def check_input_size(model: nn.Module, inputs: Tensor, name: str = "inputs") -> None:
    """Name the mismatch between the batch's feature count and the model's first layer (the
    raw error is a matrix-shape message from inside the forward); and a dtype mismatch."""
    check_input_dtype(model, inputs, name)
    found = expected_input_size(model)
    if found is None or inputs.dim() < 2:
        return
    layer, what, size = found
    got = {"features": inputs.shape[-1], "flattened": inputs[0].numel(),
           "channels": inputs.shape[1]}[what]
    if got != size:
        noun = "channels" if what == "channels" else "features"
        raise ValueError(f"{name} have {got} {noun} per example (shape {tuple(inputs.shape)}) "
                         f"but the model's first layer {layer or '<root>'!r} expects {size}; "
                         f"build the model with the datamodule's number of {noun}")


_INPLACE_MESSAGES = ("a leaf Variable that requires grad is being used in an in-place operation",
                     "has been modified by an inplace operation")


@contextlib.contextmanager
def explain_inplace(who: str) -> Iterator[None]:
    """Turn autograd's raw in-place errors on the attributed input into an explanation."""
    try:
        yield
    except RuntimeError as err:
        if not any(m in str(err) for m in _INPLACE_MESSAGES):
            raise
        raise RuntimeError(
            f"{who}: the forward modified a tensor in place that the attribution prior "
            "differentiates through (typically the input x, e.g. x.mul_(...), x[...] = ..., "
            "x += ...; or an activation with inplace=True after it). Attributions need the "
            f"unmodified input: write x = x * ... (out of place) or x = x.clone() first. "
            f"Autograd said: {err}") from err


def nonfinite_message(step: int, method: str, penalty: str, loss: Tensor,
                      task_loss: Optional[Tensor], prior_value: Optional[Tensor]) -> str:
    """What a non-finite training loss is made of, for the error or the skip warning."""
    parts = [f"loss={float(loss):.4g}"]
    if task_loss is not None:
        parts.append(f"task loss={float(task_loss):.4g}")
    if prior_value is not None:
        parts.append(f"{penalty} penalty={float(prior_value):.4g}")
    return (f"non-finite loss at training step {step} (attribution method {method!r}, penalty "
            f"{penalty!r}: {', '.join(parts)})")
