"""Input checks shared by the attribution methods, the prior, the module and the callbacks."""
from __future__ import annotations

import torch
from torch import Tensor


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
