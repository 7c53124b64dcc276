"""Shared pieces of the transformer attribution methods: the traced forward, targets, gradients
of the attention maps, the block range and the output-row-to-image reshaping."""
from __future__ import annotations

import contextlib
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ...core.checks import check_batched
from ...core.targets import Target, select_output
from ...models.vit import ViTTrace
from .trace import TransformerView, trace_transformer


def target_indices(logits: Tensor, target: Target) -> Tensor:
    """Per-example class indices ``(B,)`` for ``target`` (validated by ``select_output``)."""
    select_output(logits, target)  # raises on bad targets with a clear message
    b = len(logits)
    if target is None:
        return torch.zeros(b, dtype=torch.long, device=logits.device)
    if isinstance(target, int) or target.dim() == 0:
        return torch.full((b,), int(target), dtype=torch.long, device=logits.device)
    return target.to(logits.device).long()


def traced_forward(model, inputs: Tensor, method: str
                   ) -> Tuple[TransformerView, Tensor, ViTTrace]:
    """Validated inputs through :func:`~.trace.trace_transformer` with autograd on (for the
    attention gradients): the model's view, its logits and the trace."""
    check_batched(inputs)
    with torch.enable_grad():
        logits, trace, view = trace_transformer(model, inputs, method)
    return view, logits, trace


def block_range(n_blocks: int, start_layer) -> range:
    """Blocks ``start_layer .. n_blocks - 1`` (Chefer et al.'s ``start_layer``: the first blocks'
    attention left out of the product), checked. ``None``: 1, the setting of the paper's
    evaluation scripts, on models with more than one block, else 0."""
    if start_layer is None:
        start_layer = 1 if n_blocks > 1 else 0
    if isinstance(start_layer, bool) or not isinstance(start_layer, int) \
            or not 0 <= start_layer < n_blocks:
        raise ValueError(f"start_layer must be a block index in [0, {n_blocks}), got "
                         f"{start_layer!r}")
    return range(start_layer, n_blocks)


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


def cls_map(matrix: Tensor, view: TransformerView, inputs: Tensor, create_graph: bool) -> Tensor:
    """Row of the CLS token (the mean of the output rows: CLS and distillation token, or the
    patch tokens under average pooling) over the patch columns, on the patch grid, bilinearly
    upsampled to the input and shaped like it (each of the ``C`` channels holds ``map / C``, so
    the channel sum is the map)."""
    b = len(matrix)
    gh, gw = view.grid
    rows = matrix[:, view.output_rows(matrix.shape[-2])]
    grid = rows.mean(1)[:, view.prefix:].reshape(b, 1, gh, gw)
    up = F.interpolate(grid, size=tuple(inputs.shape[-2:]), mode="bilinear", align_corners=False)
    out = (up / inputs.shape[1]).expand(b, *inputs.shape[1:])
    return out if create_graph else out.detach()
