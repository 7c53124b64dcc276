"""Relevance propagation through a whole :class:`~priors.models.ViT` (Chefer et al., CVPR 2021).

:func:`propagate_relevance` starts from the one-hot target at the logits (total relevance 1 per
example) and walks the network backwards with the rules of
:mod:`priors.attributions.transformer.rules`: head (LRP-alpha1-beta0), final LayerNorm
(identity), CLS pooling, then per block from last to first the second residual add, ``fc2``,
GELU, ``fc1``, ``norm2``, the first residual add, ``proj``, ``attn @ v``, softmax and scaling,
``q @ k^T``, ``qkv``, ``norm1``; and finally the add of the position embedding and the patch
embedding's convolution down to the pixels. It returns, per block, the relevance of the attention
probabilities (what transformer attribution and partial LRP use) and, with ``record=True``,
the relevance after every layer, each of which sums to 1 per example up to numerical error.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ...models.vit import ViT, ViTTrace
from . import rules


class Relevance(NamedTuple):
    attention: List[Tensor]  # per block, relevance of the attention probabilities (B, h, N, N)
    tokens: Tensor  # relevance of the block-0 input tokens (B, N, dim)
    pixels: Optional[Tensor]  # relevance of the input pixels (B, C, H, W), if asked for
    layers: List[Tuple[str, Tensor]]  # (layer name, relevance after it), if recorded


def one_hot_target(logits: Tensor, target: Tensor) -> Tensor:
    """The starting relevance: 1 at each example's target logit, 0 elsewhere."""
    return torch.zeros_like(logits).scatter_(1, target.view(-1, 1).to(logits.device), 1.0)


def _attention_block(block, rec: Dict[str, Tensor], r_branch: Tensor, r_res: Tensor, layers,
                     name: str, eps: float) -> Tuple[Tensor, Tensor]:
    """Relevance of ``norm1``'s input from the attention branch's output relevance, and the
    relevance of the attention probabilities. Records pair each branch layer's relevance with
    the residual stream's share ``r_res``, so that every record sums to the total."""
    attn_mod = block.attn
    r_ctx = rules.linear_alpha1_beta0(rec["ctx"], attn_mod.proj.weight, r_branch, eps)
    b, n, d = r_ctx.shape
    h = attn_mod.heads
    r_ctx = r_ctx.reshape(b, n, h, d // h).transpose(1, 2)  # (B, h, N, d/h)
    q, k, v = rec["qkv"].unbind(0)
    r_attn, r_v = rules.matmul(rec["attn"], v, r_ctx, eps)
    # Softmax and the 1/sqrt(d) scaling pass relevance unchanged to the scores q @ k^T.
    r_q, r_kt = rules.matmul(q, k.transpose(-2, -1), r_attn, eps)
    r_qkv = torch.stack([r_q, r_kt.transpose(-2, -1), r_v])  # (3, B, h, N, d/h)
    r_qkv = r_qkv.permute(1, 3, 0, 2, 4).reshape(b, n, 3 * d)
    r_n1 = rules.linear_alpha1_beta0(rec["n1"], attn_mod.qkv.weight, r_qkv, eps)
    if layers is not None:
        layers += [(f"{name}.attn.proj", (r_res, r_ctx)),
                   (f"{name}.attn.attn_v", (r_res, r_attn, r_v)),
                   (f"{name}.attn.q_k", (r_res, r_q, r_kt, r_v)),
                   (f"{name}.attn.qkv", (r_res, r_n1))]
    return r_n1, r_attn


def propagate_relevance(model: ViT, trace: ViTTrace, target: Tensor, record: bool = False,
                        pixels: bool = False, until: int = 0, eps: float = rules.EPS
                        ) -> Relevance:
    """Relevance of every layer's input for the target logit of each example.

    Args:
        model: the ViT that produced ``trace`` (its weights are used by the linear rules).
        trace: from ``model.forward_trace(x)``.
        target: ``LongTensor (B,)`` of class indices.
        record: also return ``(layer name, relevance)`` after every layer (for tests/plots).
        pixels: propagate through the patch embedding to the input pixels too.
        until: stop after block ``until`` (e.g. the last block for partial LRP); blocks before
            it get no attention relevance (``None``) and ``tokens`` is that block's input.
    """
    if not 0 <= until < len(trace.blocks):
        raise ValueError(f"until must be a block index in [0, {len(trace.blocks)}), got {until}")
    layers: Optional[List[Tuple[str, Tensor]]] = [] if record else None
    final = trace.final
    r = one_hot_target(final["logits"], target)
    if layers is not None:
        layers.append(("logits", r))
    r_pooled = rules.linear_alpha1_beta0(final["pooled"], model.head.weight, r, eps)
    # The final LayerNorm passes relevance unchanged; only the CLS token is pooled.
    rest = final["tokens"].new_zeros(final["tokens"].shape)[:, 1:]
    r_tokens = torch.cat([r_pooled.unsqueeze(1), rest], 1)
    if layers is not None:
        layers.append(("head", r_tokens))
    attention: List[Tensor] = [None] * len(trace.blocks)  # type: ignore[list-item]
    for i in reversed(range(len(trace.blocks))):
        rec, block, name = trace.blocks[i], model.blocks[i], f"blocks.{i}"
        r_x1, r_mlp = rules.add(rec["x1"], rec["mlp_out"], r_tokens, eps)
        r_g = rules.linear_alpha1_beta0(rec["g"], block.mlp.fc2.weight, r_mlp, eps)
        # GELU and norm2 pass relevance unchanged.
        r_n2 = rules.linear_alpha1_beta0(rec["n2"], block.mlp.fc1.weight, r_g, eps)
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
        gh, gw = model.grid
        r_patches = r_embed[:, 1:].transpose(1, 2).reshape(len(r_embed), -1, gh, gw)
        r_pixels = rules.conv_alpha1_beta0(trace.embed["x"], model.patch_embed.proj, r_patches,
                                           eps)
        if layers is not None:
            # The CLS token (a parameter) keeps its share; the pixels get the patches' share.
            layers.append(("patch_embed", (r_embed[:, :1], r_pos, r_pixels)))
    return Relevance(attention, r_tokens, r_pixels, layers or [])
