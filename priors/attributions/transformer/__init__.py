"""Attributions of vision transformers, all registered methods, on the models as they come:
:class:`priors.models.ViT`, timm ``VisionTransformer`` (ViT, DeiT) and, for the attention-map
methods, torchvision's ``VisionTransformer`` (:mod:`.trace`; hooks in :mod:`.hooks`).

* ``transformer_attribution``: relevance propagation x attention gradients (Chefer, Gur and
  Wolf, CVPR 2021), with the LRP rules in :mod:`.rules` and :mod:`.propagation`;
* ``partial_lrp``: LRP relevance of the last attention map (Voita et al. 2019);
* ``gradient_weighted_attention``: the gradient-weighted attention rule (Chefer, Gur and Wolf,
  ICCV 2021), the cheap differentiable map behind the ViT relevance prior (Chefer et al. 2022);
* ``raw_attention``, ``rollout`` (Abnar and Zuidema 2020), ``attention_gradcam``;
* ``full_lrp``: LRP to the pixels, z^B rule at the patch embedding (the paper's LRP baseline).

Every method is batched with any target per example, works for any patch grid and runs on the
inputs' device; maps are shaped like the inputs.
"""
from .attention_maps import attention_gradcam, raw_attention, rollout, rollout_matrix
from .full_lrp import full_lrp
from .gradient_weighted import gradient_weighted_attention
from .hooks import Capture
from .propagation import Relevance, propagate_relevance
from .relevance_methods import partial_lrp, transformer_attribution
from .trace import BlockWeights, TransformerView, trace_transformer

__all__ = ["BlockWeights", "Capture", "Relevance", "TransformerView", "attention_gradcam",
           "full_lrp", "gradient_weighted_attention", "partial_lrp", "propagate_relevance",
           "raw_attention", "rollout", "rollout_matrix", "trace_transformer",
           "transformer_attribution"]
