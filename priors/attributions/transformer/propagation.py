"""Relevance propagation through a whole vision transformer (Chefer et al., CVPR 2021).

:func:`propagate_relevance` starts from the one-hot target at the logits (total relevance 1 per
example) and walks the network backwards with the rules of
:mod:`priors.attributions.transformer.rules`: the mean of the heads (the add rule, DeiT's
distillation head), each head (LRP-alpha1-beta0), final LayerNorm (identity), token or average
pooling, then per block from last to first the second residual add, ``fc2``,
GELU, ``fc1``, ``norm2``, the first residual add, ``proj``, ``attn @ v``, softmax and scaling,
``q @ k^T``, ``qkv``, ``norm1``; and finally the add of the position embedding and the patch
embedding's convolution down to the pixels (LRP-alpha1-beta0, or the z^B rule of full LRP).
It reads the model only through a :class:`~.trace.TransformerView` (the weights) and a
:class:`~priors.models.vit.ViTTrace` (the tensors), so it explains a :class:`priors.models.ViT`
and a timm VisionTransformer alike. It returns, per block, the relevance of the attention
probabilities (what transformer attribution and partial LRP use) and, with ``record=True``,
the relevance after every layer, each of which sums to 1 per example up to numerical error.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ...models.vit import ViT, ViTTrace
from . import rules
from .view import BlockWeights, TransformerView, priors_vit_view


class Relevance(NamedTuple):
    attention: List[Tensor]  # per block, relevance of the attention probabilities (B, h, N, N)
    tokens: Tensor  # relevance of the block-0 input tokens (B, N, dim)
    pixels: Optional[Tensor]  # relevance of the input pixels (B, C, H, W), if asked for
    layers: List[Tuple[str, Tensor]]  # (layer name, relevance after it), if recorded


def one_hot_target(logits: Tensor, target: Tensor) -> Tensor:
    """The starting relevance: 1 at each example's target logit, 0 elsewhere."""
    return torch.zeros_like(logits).scatter_(1, target.view(-1, 1).to(logits.device), 1.0)


def _attention_block(weights: BlockWeights, rec: Dict[str, Tensor], r_branch: Tensor,
                     r_res: Tensor, layers, name: str, eps: float) -> Tuple[Tensor, Tensor]:
    """Relevance of ``norm1``'s input from the attention branch's output relevance, and the
    relevance of the attention probabilities. Records pair each branch layer's relevance with
    the residual stream's share ``r_res``, so that every record sums to the total."""
    r_ctx = rules.linear_alpha1_beta0(rec["ctx"], weights.proj, r_branch, eps)
    b, n, d = r_ctx.shape
    h = weights.heads
    r_ctx = r_ctx.reshape(b, n, h, d // h).transpose(1, 2)  # (B, h, N, d/h)
    q, k, v = rec["qkv"].unbind(0)
    r_attn, r_v = rules.matmul(rec["attn"], v, r_ctx, eps)
    # Softmax and the 1/sqrt(d) scaling pass relevance unchanged to the scores q @ k^T.
    r_q, r_kt = rules.matmul(q, k.transpose(-2, -1), r_attn, eps)
    r_qkv = torch.stack([r_q, r_kt.transpose(-2, -1), r_v])  # (3, B, h, N, d/h)
    r_qkv = r_qkv.permute(1, 3, 0, 2, 4).reshape(b, n, 3 * d)
    r_n1 = rules.linear_alpha1_beta0(rec["n1"], weights.qkv, r_qkv, eps)
    if layers is not None:
        layers += [(f"{name}.attn.proj", (r_res, r_ctx)),
                   (f"{name}.attn.attn_v", (r_res, r_attn, r_v)),
                   (f"{name}.attn.q_k", (r_res, r_q, r_kt, r_v)),
                   (f"{name}.attn.qkv", (r_res, r_n1))]
    return r_n1, r_attn


def _head_relevance(view: TransformerView, final: Dict, r: Tensor, eps: float) -> Tensor:
    """Relevance of the last block's output tokens from the one-hot logits: the heads' mean by
    the add rule, each head by LRP-alpha1-beta0, the final norms as identity, the pooling."""
    outputs = final["head_outputs"]
    parts = rules.add(outputs[0], outputs[1], r, eps) if len(outputs) == 2 else (r,)
    pooled = [rules.linear_alpha1_beta0(z, w, part, eps)
              for z, w, part in zip(final["head_inputs"], view.head_weights, parts)]
    tokens = final["tokens"]
    if view.pool == "avg":
        rest = rules.mean_tokens(final["normed"][:, view.prefix:], pooled[0], eps)
        return torch.cat([tokens.new_zeros(tokens[:, :view.prefix].shape), rest], 1)
    rest = tokens.new_zeros(tokens[:, len(pooled):].shape)
    return torch.cat([p.unsqueeze(1) for p in pooled] + [rest], 1)


def _pixel_relevance(view: TransformerView, trace: ViTTrace, r_embed: Tensor, first_rule: str,
                     eps: float) -> Tensor:
    """Relevance of the input pixels from that of the patch tokens (the prefix tokens are
    parameters: they keep theirs)."""
    if view.patch_proj is None:
        raise ValueError(f"{view.name}: its patch embedding is not a Conv2d, so relevance "
                         "cannot reach the pixels")
    gh, gw = view.grid
    x = trace.embed["x"]
    r_patches = r_embed[:, view.prefix:].transpose(1, 2).reshape(len(r_embed), -1, gh, gw)
    if first_rule == "alpha1_beta0":
        return rules.conv_alpha1_beta0(x, view.patch_proj, r_patches, eps)
    if first_rule != "zb":
        raise ValueError(f"first_rule must be 'zb' or 'alpha1_beta0', got {first_rule!r}")
    flat = x.detach().flatten(1)  # per-example bounds of the input domain
    shape = (len(x),) + (1,) * (x.dim() - 1)
    low, high = flat.min(1).values.view(shape), flat.max(1).values.view(shape)
    return rules.conv_zb(x, view.patch_proj, r_patches, low, high, eps)


def propagate_relevance(model, trace: ViTTrace, target: Tensor, record: bool = False,
                        pixels: bool = False, until: int = 0, eps: float = rules.EPS,
                        first_rule: str = "alpha1_beta0") -> Relevance:
    """Relevance of every layer's input for the target logit of each example.

    Args:
        model: the :class:`priors.models.ViT` that produced ``trace``, or the
            :class:`~.trace.TransformerView` of any traced model (its weights are used by the
            linear rules).
        trace: from ``model.forward_trace(x)`` or :func:`~.trace.trace_transformer`.
        target: ``LongTensor (B,)`` of class indices.
        record: also return ``(layer name, relevance)`` after every layer (for tests/plots).
        pixels: propagate through the patch embedding to the input pixels too.
        until: stop after block ``until`` (e.g. the last block for partial LRP); blocks before
            it get no attention relevance (``None``) and ``tokens`` is that block's input.
        first_rule: the rule of the patch embedding (with ``pixels``): ``"alpha1_beta0"`` or
            ``"zb"`` (bounded inputs, per-example min and max; what Chefer et al.'s reference
            code uses for full LRP).
    """
    view = priors_vit_view(model) if isinstance(model, ViT) else model
    weights = view.require_lrp("relevance propagation")
    if not 0 <= until < len(trace.blocks):
        raise ValueError(f"until must be a block index in [0, {len(trace.blocks)}), got {until}")
    layers: Optional[List[Tuple[str, Tensor]]] = [] if record else None
    final = trace.final
    r = one_hot_target(final["logits"], target)
    if layers is not None:
        layers.append(("logits", r))
    r_tokens = _head_relevance(view, final, r, eps)
    if layers is not None:
        layers.append(("head", r_tokens))
    attention: List[Tensor] = [None] * len(trace.blocks)  # type: ignore[list-item]
    for i in reversed(range(len(trace.blocks))):
        rec, block, name = trace.blocks[i], weights[i], f"blocks.{i}"
        r_x1, r_mlp = rules.add(rec["x1"], rec["mlp_out"], r_tokens, eps)
        r_g = rules.linear_alpha1_beta0(rec["g"], block.fc2, r_mlp, eps)
        # GELU and norm2 pass relevance unchanged.
        r_n2 = rules.linear_alpha1_beta0(rec["n2"], block.fc1, r_g, eps)
        if layers is not None:
            layers += [(f"{name}.add2", (r_x1, r_mlp)), (f"{name}.mlp.fc2", (r_x1, r_g)),
                       (f"{name}.mlp.fc1", (r_x1, r_n2))]
        r_x1 = r_x1 + r_n2
        r_x, r_branch = rules.add(rec["x"], rec["attn_out"], r_x1, eps)
        if layers is not None:
            layers += [(f"{name}.mlp", r_x1), (f"{name}.add1", (r_x, r_branch))]
        r_n1, attention[i] = _attention_block(block, rec, r_branch, r_x, layers, name, eps)
        r_tokens = r_x + r_n1
        if layers is not None:
            layers.append((name, r_tokens))
        if i == until > 0:
            return Relevance(attention, r_tokens, None, layers or [])
    r_embed, r_pos = rules.add(trace.embed["tokens"], trace.embed["pos_embed"], r_tokens, eps)
    if layers is not None:
        layers.append(("pos_embed", (r_embed, r_pos)))
    r_pixels = None
    if pixels:
        r_pixels = _pixel_relevance(view, trace, r_embed, first_rule, eps)
        if layers is not None:
            # The prefix tokens (parameters) keep their share; the pixels get the patches'.
            layers.append(("patch_embed", (r_embed[:, :view.prefix], r_pos, r_pixels)))
    return Relevance(attention, r_tokens, r_pixels, layers or [])
