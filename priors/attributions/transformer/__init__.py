"""Attributions of vision transformers (:class:`priors.models.ViT`), all registered methods.

* ``transformer_attribution``: relevance propagation x attention gradients (Chefer, Gur and
  Wolf, CVPR 2021), with the LRP rules in :mod:`.rules` and :mod:`.propagation`;
* ``partial_lrp``: LRP relevance of the last attention map (Voita et al. 2019);
* ``gradient_weighted_attention``: the gradient-weighted attention rule (Chefer, Gur and Wolf,
  ICCV 2021), the cheap differentiable map behind the ViT relevance prior (Chefer et al. 2022);
* ``raw_attention``, ``rollout`` (Abnar and Zuidema 2020), ``attention_gradcam``.

Every method is batched with any target per example, works for any patch grid and runs on the
inputs' device; maps are shaped like the inputs.
"""
from .attention_maps import attention_gradcam, raw_attention, rollout, rollout_matrix
from .gradient_weighted import gradient_weighted_attention
from .propagation import Relevance, propagate_relevance
from .relevance_methods import partial_lrp, transformer_attribution

__all__ = ["Relevance", "attention_gradcam", "gradient_weighted_attention", "partial_lrp",
           "propagate_relevance", "raw_attention", "rollout", "rollout_matrix",
           "transformer_attribution"]
