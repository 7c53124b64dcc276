"""Shared pieces of the metric implementations: pixel maps, masks, batched forward passes."""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from ...core.stats import standard_error
from ...core.targets import Target, select_output, slice_target


def pixel_map(attributions: Tensor) -> Tensor:
    """Per-example feature scores ``(N, F)`` in float64: images ``(N, C, H, W)`` are summed over
    channels first (a pixel is one feature, as in the keep/remove ranking), other inputs are
    flattened."""
    if attributions.dim() < 2:
        raise ValueError(f"attributions must be batched (N, *features), got "
                         f"{tuple(attributions.shape)}")
    a = attributions.detach().double()
    if a.dim() == 4:
        a = a.sum(1)
    return a.flatten(1)


def check_attributions(attributions: Tensor, x: Tensor) -> None:
    if not isinstance(attributions, Tensor) or attributions.shape != x.shape:
        shape = tuple(attributions.shape) if isinstance(attributions, Tensor) else type(attributions)
        raise ValueError(f"attributions of shape {shape} must be shaped like the inputs "
                         f"{tuple(x.shape)}")


def flat_masks(masks: Tensor, x: Tensor) -> Tensor:
    """Annotation masks as booleans ``(N, F)`` over the features of :func:`pixel_map`.

    Accepted: masks shaped like ``x``; for images also ``(N, H, W)`` or ``(N, 1, H, W)`` (a
    pixel is in the mask if any of its channels is)."""
    if not isinstance(masks, Tensor):
        masks = torch.as_tensor(masks)
    m = masks.detach().to(x.device) != 0
    n = x.shape[0]
    if x.dim() == 4:
        _, c, h, w = x.shape
        if m.shape in ((n, h, w),):
            return m.flatten(1)
        if m.shape in ((n, 1, h, w), (n, c, h, w)):
            return m.any(1).flatten(1)
        expected = f"(N, H, W) = {(n, h, w)}, {(n, 1, h, w)} or {tuple(x.shape)}"
    else:
        if m.shape == x.shape:
            return m.flatten(1)
        expected = f"{tuple(x.shape)}"
    raise ValueError(f"masks of shape {tuple(m.shape)} do not fit the inputs {tuple(x.shape)}; "
                     f"expected {expected}")


@torch.no_grad()
def outputs(model: Callable[[Tensor], Tensor], x: Tensor, target: Target,
            batch_size: int = 256) -> Tensor:
    """The attributed output of every example, float64 ``(N,)``, in chunks of ``batch_size``."""
    parts = []
    for lo in range(0, x.shape[0], batch_size):
        rows = slice(lo, min(lo + batch_size, x.shape[0]))
        parts.append(select_output(model(x[rows]), slice_target(target, rows)).double())
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


@torch.no_grad()
def grid_outputs(model: Callable[[Tensor], Tensor], xs: Tensor, target: Target,
                 batch_size: int = 256) -> Tensor:
    """Outputs on ``K`` variants of a batch ``xs`` ``(K, N, *features)``: float64 ``(K, N)``,
    the target of example ``n`` selected on each of its variants."""
    k, n = xs.shape[:2]
    flat = xs.reshape(k * n, *xs.shape[2:])
    tgt = target.repeat(k) if isinstance(target, Tensor) and target.dim() else target
    return outputs(model, flat, tgt, batch_size).view(k, n)


def chunk_size(per_example: int, max_elements: int) -> int:
    """Examples per chunk so that at most ``max_elements`` values exist at a time."""
    return max(1, int(max_elements) // max(1, int(per_example)))


def sem(values: Tensor) -> float:
    """Standard error of the mean of the finite values (:func:`priors.core.stats.standard_error`,
    the one definition)."""
    return standard_error(values.detach().double().cpu().numpy())


def generator(seed: Optional[int], device: Any = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(0 if seed is None else int(seed))


OUTPUTS = ("logit", "probability")


def scored(model: Callable[[Tensor], Tensor], output: str) -> Callable[[Tensor], Tensor]:
    """``model`` itself (``output="logit"``) or followed by softmax (sigmoid for one logit)."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if output == "logit":
        return model

    def probabilities(x: Tensor) -> Tensor:
        out = model(x)
        if out.dim() == 1 or out.shape[-1] == 1:
            return torch.sigmoid(out.double())
        return torch.softmax(out.double(), -1)

    return probabilities


def check_fractions(fractions: Any, name: str = "fractions") -> Tensor:
    """A non-empty 1-D grid of fractions in [0, 1] as float64."""
    f = torch.as_tensor(list(fractions) if not isinstance(fractions, Tensor) else fractions,
                        dtype=torch.float64)
    if f.dim() != 1 or f.numel() == 0 or not bool(((f >= 0) & (f <= 1)).all()):
        raise ValueError(f"{name} must be a non-empty 1-D grid of fractions in [0, 1], got "
                         f"{fractions!r}")
    return f
