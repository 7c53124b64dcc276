r"""Full LRP of a vision transformer: relevance propagated to the input pixels.

The LRP baseline of Chefer, Gur and Wolf, "Transformer Interpretability Beyond Attention
Visualization", CVPR 2021, https://arxiv.org/abs/2012.09838 (Sec. 4, "LRP"): the one-hot target
relevance goes back through every layer with the rules of
:mod:`~priors.attributions.transformer.rules` (:mod:`.propagation`), through the add of the
position embedding, and through the patch embedding's convolution to the pixels. The first
layer's rule is ``first_rule``:

* ``"zb"`` (default; what the reference code uses for full LRP): the :math:`z^{\mathcal{B}}`
  rule of Montavon et al. (Pattern Recognition 2017, https://arxiv.org/abs/1512.02479,
  Sec. 4.2) for inputs in :math:`[l, h]`, with :math:`l, h` each example's minimum and maximum
  input value (the reference's bounds);
* ``"alpha1_beta0"``: the rule of every other linear layer (only positive contributions).

The map is the pixels' relevance (shaped like the inputs; its channel sum is the reference's
map). It is conservative: the pixels hold the patch tokens' share of the target's relevance 1,
the position embedding and CLS/distillation tokens keep the rest. Batched, any target per
example, differentiable with ``create_graph=True``.
"""
from __future__ import annotations

from torch import Tensor

from ...core.targets import Target
from ..registry import register
from ._common import graph_context, target_indices, traced_forward
from .propagation import propagate_relevance


@register("full_lrp", aliases=("lrp", "vit_lrp"), requires_vit=True)
def full_lrp(model, inputs: Tensor, target: Target = None, create_graph: bool = False,
             first_rule: str = "zb") -> Tensor:
    """Full LRP to the pixels (baseline of Chefer et al., CVPR 2021): every layer's rule, the
    patch embedding by the z^B rule (default) or alpha1-beta0."""
    if first_rule not in ("zb", "alpha1_beta0"):
        raise ValueError(f"first_rule must be 'zb' or 'alpha1_beta0', got {first_rule!r}")
    view, logits, trace = traced_forward(model, inputs, "full_lrp")
    view.require_lrp("full_lrp")
    with graph_context(create_graph):
        relevance = propagate_relevance(view, trace, target_indices(logits, target),
                                        pixels=True, first_rule=first_rule)
        out = relevance.pixels
        return out if create_graph else out.detach()
