r"""Relevance-propagation attributions of ViTs: transformer attribution and partial LRP.

**Transformer attribution** (Chefer, Gur and Wolf, "Transformer Interpretability Beyond
Attention Visualization", CVPR 2021, https://arxiv.org/abs/2012.09838, Eqs. 12-13): with
:math:`A^{(b)}` the attention probabilities of block :math:`b`, :math:`\nabla A^{(b)}` the
gradient of the target logit with respect to them and :math:`R^{(b)}` their relevance from
LRP (:mod:`~priors.attributions.transformer.propagation`, one-hot target),

.. math:: \bar A^{(b)} = I + \mathbb{E}_h\big[(\nabla A^{(b)} \odot R^{(b)})^+\big], \qquad
          C = \bar A^{(B)} \cdots \bar A^{(s+1)},

from block ``start_layer`` :math:`= s` on (default ``None``: 1 on models of more than one
block, the setting of the paper's evaluation scripts, which leave the first block's attention
out; their demo uses 0),
and the map is the CLS row of :math:`C` without the CLS column, on the patch grid, upsampled
bilinearly to the input. Row :math:`i` of an attention matrix mixes the tokens of its block's
input into token :math:`i` of its output, so a later block multiplies from the left (the paper
writes the product in block order; this is the composition it denotes, as in rollout). Both
factors depend on the target, so the map is class-specific.

**Partial LRP** (the paper's baseline after Voita et al., "Analyzing Multi-Head Self-Attention",
ACL 2019, https://arxiv.org/abs/1905.09418): the head-mean relevance of the last block's
attention probabilities, CLS row; with ``clamp=True`` (the default, as in the reference code)
the relevance is clamped at 0 before the head mean, ``clamp=False`` keeps negative relevance.

Both are batched (any target per example), run on the inputs' device and, with
``create_graph=True``, are differentiable w.r.t. the parameters (all rules are tensor ops), so
transformer attribution can also be a training prior (Chefer et al. 2022, see
:mod:`priors.attributions.transformer.gradient_weighted`).
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor

from ...core.targets import Target
from ..registry import register
from ._common import (attention_gradients, block_range, cls_map, graph_context, identity_like,
                      target_indices, traced_forward)
from .propagation import propagate_relevance


@register("transformer_attribution", aliases=("chefer2021", "transformer_lrp"),
          requires_vit=True)
def transformer_attribution(model, inputs: Tensor, target: Target = None,
                            create_graph: bool = False,
                            start_layer: Optional[int] = None) -> Tensor:
    """Transformer attribution (Chefer et al., CVPR 2021): LRP relevance x gradient of the
    attention maps, positive part, head mean, plus identity, multiplied across the blocks from
    ``start_layer`` on."""
    view, logits, trace = traced_forward(model, inputs, "transformer_attribution")
    view.require_lrp("transformer_attribution")
    blocks = list(block_range(len(trace.blocks), start_layer))
    grads = attention_gradients(logits, trace, target, create_graph, blocks=blocks)
    with graph_context(create_graph):
        relevance = propagate_relevance(view, trace, target_indices(logits, target),
                                        until=blocks[0])
        joint = None
        for grad, i in zip(grads, blocks):
            rel = relevance.attention[i]
            step = identity_like(rel) + (grad * rel).clamp(min=0).mean(1)
            joint = step if joint is None else step @ joint
        return cls_map(joint, view, inputs, create_graph)


@register("partial_lrp", aliases=("partial_relevance",), requires_vit=True)
def partial_lrp(model, inputs: Tensor, target: Target = None, create_graph: bool = False,
                clamp: bool = True) -> Tensor:
    """Partial LRP (Voita et al. 2019, as a baseline in Chefer et al. 2021): head-mean LRP
    relevance of the last block's attention probabilities (clamped at 0 first by default)."""
    view, logits, trace = traced_forward(model, inputs, "partial_lrp")
    view.require_lrp("partial_lrp")
    with graph_context(create_graph):
        last = len(trace.blocks) - 1
        relevance = propagate_relevance(view, trace, target_indices(logits, target), until=last)
        rel = relevance.attention[last]
        return cls_map((rel.clamp(min=0) if clamp else rel).mean(1), view, inputs, create_graph)
