"""One traced forward of a vision transformer, whatever its library: the tensors and the weights
that the transformer methods read, behind one model-agnostic description.

:func:`trace_transformer` runs the user's model *as it is* (no conversion, no copy) and returns
its logits, a :class:`~priors.models.vit.ViTTrace` of the intermediate tensors (attention
probabilities still in the autograd graph) and a :class:`TransformerView` of what the rules need
to know about the architecture. Supported:

* :class:`priors.models.ViT` (its own ``forward_trace``), with or without DeiT's distillation
  token;
* timm ``VisionTransformer`` and ``VisionTransformerDistilled`` (ViT, DeiT; CLS token with or
  without the distillation token, or average pooling; any patch size and grid; ``qkv_bias``,
  layer scale, QK-norm and fused attention), through forward hooks and an explicit-softmax
  attention forward swapped in for the one pass (:mod:`.timm_vit`);
* torchvision ``VisionTransformer`` (``vit_b_16`` family, ``nn.MultiheadAttention``), attention
  maps only (:mod:`.torchvision_vit`): the attention-gradient methods work, the LRP-based ones
  are refused.

Anything else is refused with a ``ValueError`` naming the module that cannot be traced and the
nearest method that works.
"""
from __future__ import annotations

from typing import Tuple

from torch import Tensor, nn

from ...models.vit import ViT, ViTTrace
from .timm_vit import trace_timm
from .torchvision_vit import trace_torchvision
from .view import (ATTENTION_METHODS, GRADIENT_FALLBACK, BlockWeights,  # noqa: F401 (public here)
                   TransformerView, priors_vit_view, refuse)


def _library(model) -> str:
    return type(model).__module__.split(".")[0]


def trace_transformer(model: nn.Module, inputs: Tensor, method: str
                      ) -> Tuple[Tensor, ViTTrace, TransformerView]:
    """Logits, trace and view of one forward of ``model`` on ``inputs`` (autograd as the caller
    set it). ``method`` names the caller in error messages."""
    if isinstance(model, ViT):
        logits, trace = model.forward_trace(inputs)
        return logits, trace, priors_vit_view(model)
    library = _library(model)
    if library == "timm":
        return trace_timm(model, inputs, method)
    if library == "torchvision":
        return trace_torchvision(model, inputs, method)
    raise ValueError(f"{method} explains a vision transformer: a priors.models.ViT, a timm "
                     f"VisionTransformer (ViT, DeiT) or a torchvision VisionTransformer (it "
                     f"needs the attention maps of every block); got {type(model).__name__}. "
                     f"For other models use {GRADIENT_FALLBACK}")


