r"""Attention-based attributions of ViTs: raw attention, rollout, Grad-CAM on attention.

All three use the attention probabilities :math:`A^{(b)}` (``(B, heads, N, N)``, row = query
token) of a :class:`~priors.models.ViT`; the map is the CLS row without the CLS column, on the
patch grid, upsampled bilinearly to the input (see ``_common.cls_map``). They are the baselines
of Chefer, Gur and Wolf, "Transformer Interpretability Beyond Attention Visualization",
CVPR 2021, https://arxiv.org/abs/2012.09838.

* **Raw attention**: :math:`\mathbb{E}_h A^{(B)}` of the last block (class-agnostic).
* **Attention rollout** (Abnar and Zuidema, "Quantifying Attention Flow in Transformers", ACL
  2020, https://arxiv.org/abs/2005.00928): the residual connection is modeled by adding the
  identity, rows are renormalized, and blocks are composed,
  :math:`\hat A^{(b)} = \operatorname{rownorm}(\mathbb{E}_h A^{(b)} + I)`,
  :math:`\tilde A = \hat A^{(B)} \cdots \hat A^{(1)}` (class-agnostic).
* **Grad-CAM on attention** (Selvaraju et al., "Grad-CAM", ICCV 2017,
  https://arxiv.org/abs/1610.02391, applied to the last block's attention as in Chefer et
  al. 2021): head weights :math:`\alpha_h` = mean over the map of
  :math:`\partial y_t / \partial A^{(B)}_h`, map :math:`(\mathbb{E}_h \alpha_h A^{(B)}_h)^+`.
"""
from __future__ import annotations

from torch import Tensor

from ...core.targets import Target
from ..registry import register
from ._common import attention_gradients, cls_map, graph_context, identity_like, traced_forward


@register("raw_attention", aliases=("attention",), uses_target=False, requires_vit=True)
def raw_attention(model, inputs: Tensor, create_graph: bool = False) -> Tensor:
    """Raw attention: head mean of the last block's attention, CLS row (class-agnostic)."""
    vit, _, trace = traced_forward(model, inputs, "raw_attention")
    with graph_context(create_graph):
        return cls_map(trace.attentions[-1].mean(1), vit, inputs, create_graph)


def rollout_matrix(attentions) -> Tensor:
    """Abnar & Zuidema's rollout of a list of ``(B, heads, N, N)`` attention maps, ``(B, N, N)``."""
    joint = None
    for attn in attentions:
        step = attn.mean(1) + identity_like(attn)
        step = step / step.sum(-1, keepdim=True)
        joint = step if joint is None else step @ joint
    return joint


@register("rollout", aliases=("attention_rollout",), uses_target=False, requires_vit=True)
def rollout(model, inputs: Tensor, create_graph: bool = False) -> Tensor:
    """Attention rollout (Abnar & Zuidema 2020): identity added, rows normalized, blocks
    multiplied; CLS row (class-agnostic)."""
    vit, _, trace = traced_forward(model, inputs, "rollout")
    with graph_context(create_graph):
        return cls_map(rollout_matrix(trace.attentions), vit, inputs, create_graph)


@register("attention_gradcam", aliases=("gradcam_attention",), requires_vit=True)
def attention_gradcam(model, inputs: Tensor, target: Target = None,
                      create_graph: bool = False) -> Tensor:
    """Grad-CAM on the last block's attention: heads weighted by their mean gradient, positive
    part of the weighted head mean, CLS row."""
    vit, logits, trace = traced_forward(model, inputs, "attention_gradcam")
    last = len(trace.blocks) - 1
    (grad,) = attention_gradients(logits, trace, target, create_graph, blocks=[last])
    with graph_context(create_graph):
        weights = grad.mean((2, 3), keepdim=True)  # (B, heads, 1, 1)
        cam = (weights * trace.attentions[last]).mean(1).clamp(min=0)
        return cls_map(cam, vit, inputs, create_graph)
