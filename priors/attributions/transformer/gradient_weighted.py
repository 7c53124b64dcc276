r"""Gradient-weighted attention rule (Chefer, Gur and Wolf, ICCV 2021), the ViT relevance prior.

Chefer, Gur and Wolf, "Generic Attention-model Explainability for Interpreting Bi-Modal and
Encoder-Decoder Transformers", ICCV 2021, https://arxiv.org/abs/2103.15679, Eqs. 5-6 for
self-attention: starting from :math:`R = I`, each block :math:`b` in forward order updates

.. math:: \bar A^{(b)} = \mathbb{E}_h\big[(\nabla A^{(b)} \odot A^{(b)})^+\big], \qquad
          R \leftarrow R + \bar A^{(b)} R,

with :math:`\nabla A^{(b)}` the gradient of the target logit w.r.t. the attention
probabilities; the map is the CLS row of :math:`R` without the CLS column. It is transformer
attribution (:mod:`~priors.attributions.transformer.relevance_methods`) with the attention map
in place of its LRP relevance: one forward and one backward, no relevance propagation.

As a **training prior** (``create_graph=True``, one double backward) it is what Chefer, Gur and
Wolf optimize in "Optimizing Relevance Maps of Vision Transformers Improves Robustness",
NeurIPS 2022, https://arxiv.org/abs/2206.01161 (there: foreground/background losses on
segmentation masks; here: any penalty of :mod:`priors.penalties`, e.g. ``masked_l2`` on the
annotation masks that mark what the model must not use, or ``tv`` for smooth maps)::

    Prior("gradient_weighted_attention", "masked_l2", weight=10.0)

or ``python train.py experiment=decoy_digits model=vit prior=vit_relevance``.
"""
from __future__ import annotations

from torch import Tensor

from ...core.targets import Target
from ..registry import register
from ._common import attention_gradients, cls_map, graph_context, identity_like, traced_forward


@register("gradient_weighted_attention", aliases=("generic_attention", "chefer2021b", "gae"),
          requires_vit=True)
def gradient_weighted_attention(model, inputs: Tensor, target: Target = None,
                                create_graph: bool = False) -> Tensor:
    """Gradient-weighted attention rule (Chefer et al., ICCV 2021): R += E_h[(grad A * A)^+] R
    over the blocks, CLS row; differentiable (double backward) for relevance priors."""
    view, logits, trace = traced_forward(model, inputs, "gradient_weighted_attention")
    grads = attention_gradients(logits, trace, target, create_graph)
    with graph_context(create_graph):
        joint = None
        for grad, attn in zip(grads, trace.attentions):
            step = (grad * attn).clamp(min=0).mean(1)
            joint = identity_like(attn) + step if joint is None else joint + step @ joint
        return cls_map(joint, view, inputs, create_graph)
