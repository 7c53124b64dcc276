"""Tracing timm's ``VisionTransformer`` (ViT, DeiT) for the transformer methods, unconverted.

The model's own ``forward`` runs; for that one pass each block's ``Attention`` module runs an
explicit-softmax forward (the same computation as timm's unfused path, using the module's own
``qkv``, ``q_norm``/``k_norm``, ``attn_drop``, ``norm``, ``proj``) so that the attention
probabilities exist in the autograd graph even when timm would call the fused
``scaled_dot_product_attention``, and forward hooks record the tensors the LRP rules read
(``norm1``/``norm2`` outputs, the residual addends after layer scale and drop-path, ``fc2``'s
input, the head inputs and outputs, the embedding). Everything is undone on exit
(:class:`~.hooks.Capture`).

Supported: ``Block`` blocks with timm's ``Attention`` and ``Mlp`` (any width, heads, patch
size and grid, ``qkv_bias``, layer scale ``init_values``, QK-norm, fused or unfused attention),
CLS-token pooling with or without the distillation token (``VisionTransformerDistilled``, logits
the mean of both heads) or register tokens, average pooling, ``no_embed_class``. Attention-only
support (the LRP methods refuse, the attention-gradient methods work): other block or MLP types
around a timm ``Attention`` and gated attention. Refused everywhere, naming the module: models
that are not a ``VisionTransformer`` (e.g. Swin's windowed attention, BEiT's relative position
bias), attention pooling (``global_pool='map'``) and max pooling.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor, nn

from ...models.vit import ViTTrace
from .hooks import Capture
from .view import GRADIENT_FALLBACK, BlockWeights, TransformerView, refuse


def _refuse_other(model: nn.Module, method: str) -> ValueError:
    """The refusal for a timm model that is not a ``VisionTransformer``, naming its first
    attention module that the methods cannot model."""
    for name, module in model.named_modules():
        cls = type(module).__name__
        if "Attention" in cls and "Window" in cls:
            return refuse(method, model, name, module,
                          "attends within local windows (one attention map per window, not one "
                          "map over all tokens per block)", GRADIENT_FALLBACK)
        if "Attention" in cls and any(hasattr(module, a) for a in (
                "relative_position_bias_table", "rel_pos", "rel_pos_h", "window_size")):
            return refuse(method, model, name, module,
                          "adds a relative position bias inside its attention, which the "
                          "transformer methods do not model", GRADIENT_FALLBACK)
    return refuse(method, model, "", model, "is not a timm VisionTransformer",
                  GRADIENT_FALLBACK)


def _explicit_attention(module, record: dict):
    """An explicit-softmax forward for timm's ``Attention`` that records q, k, v (after QK-norm),
    the attention probabilities and the context (``proj``'s input)."""

    def forward(x: Tensor, attn_mask=None, is_causal: bool = False) -> Tensor:
        if attn_mask is not None or is_causal:
            raise ValueError("the transformer methods trace unmasked self-attention; got an "
                             "attention mask or is_causal=True")
        b, n, _ = x.shape
        gate = module.gate(x).sigmoid() if getattr(module, "gate", None) is not None else None
        qkv = module.qkv(x).reshape(b, n, 3, module.num_heads, module.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        q, k = module.q_norm(q), module.k_norm(k)
        attn = module.attn_drop(((q * module.scale) @ k.transpose(-2, -1)).softmax(-1))
        ctx = module.norm((attn @ v).transpose(1, 2).reshape(b, n, -1))
        if gate is not None:
            ctx = ctx * gate
        record.update(qkv=torch.stack([q, k, v]), attn=attn, ctx=ctx)
        return module.proj_drop(module.proj(ctx))

    return forward


def _check_model(model, method: str):
    from timm.layers import Attention
    from timm.models.vision_transformer import VisionTransformer

    if not isinstance(model, VisionTransformer):
        raise _refuse_other(model, method)
    if getattr(model, "attn_pool", None) is not None:
        raise refuse(method, model, "attn_pool", model.attn_pool,
                     "pools the tokens by attention (global_pool='map'): no token row holds "
                     "the output", GRADIENT_FALLBACK)
    if model.global_pool not in ("token", "avg") or getattr(model, "pool_include_prefix", False):
        raise refuse(method, model, "", model,
                     f"pools with global_pool={model.global_pool!r}; supported: 'token', 'avg'",
                     GRADIENT_FALLBACK)
    if not isinstance(model.head, nn.Linear):
        raise refuse(method, model, "head", model.head, "is not a linear classifier (build the "
                     "model with num_classes > 0)", GRADIENT_FALLBACK)
    if getattr(model, "distilled_training", False) and model.training:
        raise refuse(method, model, "", model, "returns two outputs in distilled training mode; "
                     "call model.set_distilled_training(False)", GRADIENT_FALLBACK)
    for i, block in enumerate(model.blocks):
        attn = getattr(block, "attn", None)
        if type(attn) is not Attention:
            module = attn if attn is not None else block
            name = f"blocks.{i}.attn" if attn is not None else f"blocks.{i}"
            raise refuse(method, model, name, module,
                         "is not timm's standard multi-head self-attention (timm.layers."
                         "Attention), so its attention probabilities cannot be traced",
                         GRADIENT_FALLBACK)


def _lrp_refusal(model) -> str:
    """Why the LRP rules cannot follow this model's blocks ('' when they can)."""
    from timm.layers import Mlp
    from timm.models.vision_transformer import Block

    for i, block in enumerate(model.blocks):
        if type(block) is not Block:
            return (f"its block blocks.{i} ({type(block).__name__}) is not timm's pre-norm "
                    "Block, whose layer order the LRP rules follow.")
        if type(block.mlp) is not Mlp:
            return f"its MLP blocks.{i}.mlp ({type(block.mlp).__name__}) is not timm's Mlp."
        if getattr(block.attn, "gate", None) is not None:
            return f"its attention blocks.{i}.attn is gated (no LRP rule for the gate)."
    return ""


def _position_embedding(model, h: Tensor) -> Tensor | None:
    """The position embedding added to the tokens ``h`` (zeros on the prefix tokens with
    ``no_embed_class``), or ``None`` if it was resampled (then the add rule has no operand)."""
    pos = model.pos_embed
    if pos is None:
        return torch.zeros_like(h)
    if model.no_embed_class:
        pos = torch.cat([pos.new_zeros(1, model.num_prefix_tokens, pos.shape[-1]), pos], 1)
    return pos.expand_as(h) if pos.shape[1] == h.shape[1] else None


def trace_timm(model, inputs: Tensor, method: str) -> Tuple[Tensor, ViTTrace, TransformerView]:
    """Logits, :class:`ViTTrace` and :class:`TransformerView` of a timm VisionTransformer."""
    _check_model(model, method)
    heads: List[nn.Linear] = [model.head] + ([model.head_dist] if hasattr(model, "head_dist")
                                             else [])
    with Capture() as cap:
        cap.tap(model.patch_embed, "x", what="input")
        cap.tap(model.patch_embed, "patches")
        cap.tap(model.pos_drop, "h", what="input")
        cap.tap(model.norm, "normed")
        for j, head in enumerate(heads):
            cap.tap(head, f"head_in{j}", what="input")
            cap.tap(head, f"head_out{j}")
        for i, block in enumerate(model.blocks):
            cap.swap(block.attn, _explicit_attention(block.attn, cap.record(i)))
            cap.tap(block, "x", i, what="input")
            cap.tap(block, "out", i)
            for key, module, what in (("n1", "norm1", "output"), ("attn_out", "drop_path1",
                                      "output"), ("x1", "norm2", "input"), ("n2", "norm2",
                                      "output"), ("g", "mlp.fc2", "input"),
                                      ("mlp_out", "drop_path2", "output")):
                sub = block.get_submodule(module) if _has(block, module) else None
                if sub is not None:
                    cap.tap(sub, key, i, what)
        logits = model(inputs)
    shared = cap.shared
    patches = shared["patches"]
    grid = (tuple(patches.shape[1:3]) if patches.dim() == 4
            else tuple(model.patch_embed.dynamic_feat_size(tuple(inputs.shape[-2:]))))
    trace = ViTTrace(blocks=[cap.records[i] for i in range(len(model.blocks))])
    trace.final.update(logits=logits, tokens=trace.blocks[-1]["out"], normed=shared["normed"],
                       head_inputs=[shared[f"head_in{j}"] for j in range(len(heads))],
                       head_outputs=[shared[f"head_out{j}"] for j in range(len(heads))])
    refusal = _lrp_refusal(model)
    h = shared["h"]
    pos = _position_embedding(model, h)
    if pos is None and not refusal:
        refusal = "its position embedding is resampled to this input size (dynamic_img_size)."
    if not refusal:
        trace.embed.update(x=shared["x"], tokens=h - pos, pos_embed=pos)
    blocks = None if refusal else [
        BlockWeights(b.attn.qkv.weight, b.attn.proj.weight, b.mlp.fc1.weight, b.mlp.fc2.weight,
                     b.attn.num_heads) for b in model.blocks]
    proj = getattr(model.patch_embed, "proj", None)
    view = TransformerView(f"timm {type(model).__name__}", grid, model.num_prefix_tokens,
                           model.global_pool, [hd.weight for hd in heads], blocks,
                           proj if isinstance(proj, nn.Conv2d) else None, refusal)
    return logits, trace, view


def _has(module: nn.Module, path: str) -> bool:
    try:
        module.get_submodule(path)
        return True
    except AttributeError:
        return False
