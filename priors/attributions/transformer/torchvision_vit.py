"""Tracing torchvision's ``VisionTransformer`` (``vit_b_16`` family) for the attention methods.

Each encoder block's ``nn.MultiheadAttention`` runs, for the one traced pass, an explicit
softmax forward with the module's own ``in_proj_weight``/``in_proj_bias``, dropout and
``out_proj`` (the computation of ``torch.nn.functional.multi_head_attention_forward`` for
self-attention without masks), so that the attention probabilities are in the autograd graph:
``nn.MultiheadAttention`` returns its weights as a view made after they were used, and
torchvision asks for none. The attention-gradient methods (``gradient_weighted_attention``,
``rollout``, ``raw_attention``, ``attention_gradcam``) then work unchanged; the LRP-based ones
refuse (torchvision's blocks are not traced layer by layer) and name gradient-weighted attention.
"""
from __future__ import annotations

from typing import Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from ...models.vit import ViTTrace
from .hooks import Capture
from .view import GRADIENT_FALLBACK, TransformerView, refuse


def _explicit_mha(mha: nn.MultiheadAttention, record: dict):
    """Self-attention forward of ``mha`` recording the attention probabilities ``(B, h, N, N)``."""

    def forward(query: Tensor, key: Tensor, value: Tensor, *args, **kwargs):
        if not (query is key is value) or kwargs.get("attn_mask") is not None \
                or kwargs.get("key_padding_mask") is not None:
            raise ValueError("the transformer methods trace unmasked self-attention")
        b, n, d = query.shape
        h = mha.num_heads
        q, k, v = F.linear(query, mha.in_proj_weight, mha.in_proj_bias).chunk(3, -1)
        q, k, v = (t.reshape(b, n, h, d // h).transpose(1, 2) for t in (q, k, v))
        attn = ((q * (d // h) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        if mha.training and mha.dropout > 0:
            attn = F.dropout(attn, p=mha.dropout)
        ctx = (attn @ v).transpose(1, 2).reshape(b, n, d)
        record.update(attn=attn)
        return mha.out_proj(ctx), None

    return forward


def trace_torchvision(model, inputs: Tensor, method: str
                      ) -> Tuple[Tensor, ViTTrace, TransformerView]:
    """Logits, attention-only :class:`ViTTrace` and :class:`TransformerView` of a torchvision
    ``VisionTransformer``."""
    from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer

    if not isinstance(model, VisionTransformer):
        raise refuse(method, model, "", model, "is not a torchvision VisionTransformer (the "
                     "transformer methods read one attention map per block)", GRADIENT_FALLBACK)
    layers = list(model.encoder.layers)
    with Capture() as cap:
        for i, layer in enumerate(layers):
            mha = getattr(layer, "self_attention", None)
            if type(layer) is not EncoderBlock or not isinstance(mha, nn.MultiheadAttention) \
                    or not mha.batch_first or not mha._qkv_same_embed_dim \
                    or mha.bias_k is not None or mha.add_zero_attn:
                raise refuse(method, model, f"encoder.layers.{i}", layer,
                             "is not a batch-first EncoderBlock with plain nn.MultiheadAttention",
                             GRADIENT_FALLBACK)
            cap.swap(mha, _explicit_mha(mha, cap.record(i)))
        logits = model(inputs)
    side = model.image_size // model.patch_size
    trace = ViTTrace(blocks=[cap.records[i] for i in range(len(layers))])
    trace.final.update(logits=logits)
    view = TransformerView("torchvision VisionTransformer", (side, side), 1, "token",
                           lrp_refusal="torchvision's encoder blocks are traced for their "
                                       "attention maps only.")
    return logits, trace, view

