r"""Attention-based attributions of ViTs: raw attention, rollout, Grad-CAM on attention.

All three use the attention probabilities :math:`A^{(b)}` (``(B, heads, N, N)``, row = query
token) of a traced vision transformer (:mod:`.trace`: ours, timm's, torchvision's); the map is
the CLS row without the prefix-token columns, on the patch grid, upsampled bilinearly to the
input (see ``_common.cls_map``). They are the baselines
of Chefer, Gur and Wolf, "Transformer Interpretability Beyond Attention Visualization",
CVPR 2021, https://arxiv.org/abs/2012.09838.

* **Raw attention**: :math:`\mathbb{E}_h A^{(B)}` of the last block (class-agnostic).
* **Attention rollout** (Abnar and Zuidema, "Quantifying Attention Flow in Transformers", ACL
  2020, https://arxiv.org/abs/2005.00928): the residual connection is modeled by adding the
  identity, rows are renormalized, and blocks are composed,
  :math:`\hat A^{(b)} = \operatorname{rownorm}(\mathbb{E}_h A^{(b)} + I)`,
  :math:`\tilde A = \hat A^{(B)} \cdots \hat A^{(s+1)}` (class-agnostic), from block
  ``start_layer`` :math:`= s` on; default ``start_layer=None``: 1 on models of more than one
  block, the setting of Chefer et al.'s evaluation scripts (their demo uses 0, all blocks).
* **Grad-CAM on attention** (Selvaraju et al., "Grad-CAM", ICCV 2017,
  https://arxiv.org/abs/1610.02391, applied to the last block's attention as in Chefer et
  al. 2021): head weights :math:`\alpha_h` = mean of :math:`\partial y_t / \partial A^{(B)}_h`
  over the CLS row's patch columns (``head_weights="cls_row"``, the default, as in Chefer et
  al.'s reference code) or over the whole :math:`N \times N` map (``"map"``); map
  :math:`(\mathbb{E}_h \alpha_h A^{(B)}_h)^+`.
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor

from ...core.targets import Target
from ..registry import register
from ._common import (attention_gradients, block_range, cls_map, graph_context, identity_like,
                      traced_forward)


@register("raw_attention", aliases=("attention",), uses_target=False, requires_vit=True)
def raw_attention(model, inputs: Tensor, create_graph: bool = False) -> Tensor:
    """Raw attention: head mean of the last block's attention, CLS row (class-agnostic)."""
    view, _, trace = traced_forward(model, inputs, "raw_attention")
    with graph_context(create_graph):
        return cls_map(trace.attentions[-1].mean(1), view, inputs, create_graph)


def rollout_matrix(attentions) -> Tensor:
    """Abnar & Zuidema's rollout of a list of ``(B, heads, N, N)`` attention maps, ``(B, N, N)``."""
    joint = None
    for attn in attentions:
        step = attn.mean(1) + identity_like(attn)
        step = step / step.sum(-1, keepdim=True)
        joint = step if joint is None else step @ joint
    return joint


@register("rollout", aliases=("attention_rollout",), uses_target=False, requires_vit=True)
def rollout(model, inputs: Tensor, create_graph: bool = False,
            start_layer: Optional[int] = None) -> Tensor:
    """Attention rollout (Abnar & Zuidema 2020): identity added, rows normalized, blocks from
    ``start_layer`` on multiplied; CLS row (class-agnostic)."""
    view, _, trace = traced_forward(model, inputs, "rollout")
    blocks = block_range(len(trace.blocks), start_layer)
    with graph_context(create_graph):
        matrix = rollout_matrix([trace.attentions[i] for i in blocks])
        return cls_map(matrix, view, inputs, create_graph)


@register("attention_gradcam", aliases=("gradcam_attention",), requires_vit=True)
def attention_gradcam(model, inputs: Tensor, target: Target = None,
                      create_graph: bool = False, head_weights: str = "cls_row") -> Tensor:
    """Grad-CAM on the last block's attention: heads weighted by their mean gradient (over the
    output row's patch columns, or the whole map), positive part of the weighted head mean."""
    if head_weights not in ("cls_row", "map"):
        raise ValueError(f"head_weights must be 'cls_row' or 'map', got {head_weights!r}")
    view, logits, trace = traced_forward(model, inputs, "attention_gradcam")
    last = len(trace.blocks) - 1
    (grad,) = attention_gradients(logits, trace, target, create_graph, blocks=[last])
    with graph_context(create_graph):
        if head_weights == "map":
            weights = grad.mean((2, 3), keepdim=True)  # (B, heads, 1, 1)
        else:
            rows = grad[:, :, view.output_rows(grad.shape[-2]), view.prefix:]
            weights = rows.mean((2, 3), keepdim=True)
        cam = (weights * trace.attentions[last]).mean(1).clamp(min=0)
        return cls_map(cam, view, inputs, create_graph)
