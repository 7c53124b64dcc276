"""Shared pieces of the transformer attribution methods: the traced forward, targets, gradients
of the attention maps and the CLS-row-to-image reshaping."""
from __future__ import annotations

import contextlib
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ...core.checks import check_batched
from ...models.vit import ViT, ViTTrace
from ...core.targets import Target, select_output


def check_vit(model, method: str) -> ViT:
    """The method's model must be a :class:`priors.models.ViT` (it reads its attention maps;
    registry flag ``requires_vit``)."""
    if not isinstance(model, ViT):
        raise ValueError(f"{method} explains a priors.models.ViT (it needs the attention maps of "
                        f"every block); got {type(model).__name__}. Load your timm ViT "
                        "weights into priors.models.ViT (same state_dict keys)")
    return model


def target_indices(logits: Tensor, target: Target) -> Tensor:
    """Per-example class indices ``(B,)`` for ``target`` (validated by ``select_output``)."""
    select_output(logits, target)  # raises on bad targets with a clear message
    b = len(logits)
    if target is None:
        return torch.zeros(b, dtype=torch.long, device=logits.device)
    if isinstance(target, int) or target.dim() == 0:
        return torch.full((b,), int(target), dtype=torch.long, device=logits.device)
    return target.to(logits.device).long()


def traced_forward(model, inputs: Tensor, method: str) -> Tuple[ViT, Tensor, ViTTrace]:
    """Validated inputs through ``model.forward_trace`` with autograd on (for attention grads)."""
    vit = check_vit(model, method)
    check_batched(inputs)
    with torch.enable_grad():
        logits, trace = vit.forward_trace(inputs)
    return vit, logits, trace


def attention_gradients(logits: Tensor, trace: ViTTrace, target: Target, create_graph: bool,
                        blocks: List[int] | None = None) -> List[Tensor]:
    """Gradients of each example's target logit w.r.t. the attention probabilities of ``blocks``
    (default all). Examples do not interact in a ViT, so one backward of the sum serves all."""
    attentions = trace.attentions
    chosen = [attentions[i] for i in (range(len(attentions)) if blocks is None else blocks)]
    selected = select_output(logits, target)
    return list(torch.autograd.grad(selected.sum(), chosen, create_graph=create_graph,
                                    retain_graph=True))


def graph_context(create_graph: bool):
    """Autograd on while building a differentiable map, off otherwise (cheaper, detached)."""
    return contextlib.nullcontext() if create_graph else torch.no_grad()


def identity_like(attn: Tensor) -> Tensor:
    """Identity matrix ``(N, N)`` on the attention map's device and dtype."""
    n = attn.shape[-1]
    return torch.eye(n, dtype=attn.dtype, device=attn.device)


def cls_map(matrix: Tensor, model: ViT, inputs: Tensor, create_graph: bool) -> Tensor:
    """Row of the CLS token without its own column, on the patch grid, bilinearly upsampled to
    the input and shaped like it (each of the ``C`` channels holds ``map / C``, so the channel
    sum is the map)."""
    b = len(matrix)
    gh, gw = model.grid
    grid = matrix[:, 0, 1:].reshape(b, 1, gh, gw)
    up = F.interpolate(grid, size=tuple(inputs.shape[-2:]), mode="bilinear", align_corners=False)
    out = (up / inputs.shape[1]).expand(b, *inputs.shape[1:])
    return out if create_graph else out.detach()
