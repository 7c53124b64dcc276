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

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from torch import Tensor, nn

from ...models.vit import ViT, ViTTrace

# Methods needing only attention maps and their gradients (what a partial trace supports).
ATTENTION_METHODS = ("gradient_weighted_attention", "rollout", "raw_attention",
                     "attention_gradcam")
# Needing only the model's input gradients: the fallback for models with no usable attention.
GRADIENT_FALLBACK = "integrated_gradients (or grad, smoothgrad: they need only input gradients)"


@dataclass(frozen=True)
class BlockWeights:
    """The weights of one pre-norm block that the LRP rules read (biases take no relevance).

    ``qkv``: the fused query/key/value projection, ``(3 * inner, dim)``, rows in the order q, k,
    v and heads contiguous within each (timm's layout); ``proj``: attention output projection;
    ``fc1``, ``fc2``: the MLP; ``heads``: the number of attention heads.
    """

    qkv: Tensor
    proj: Tensor
    fc1: Tensor
    fc2: Tensor
    heads: int


@dataclass(frozen=True)
class TransformerView:
    """What the transformer methods need to know about a traced model.

    Attributes:
        name: the model's kind, for messages.
        grid: the patch grid ``(rows, columns)`` of this input.
        prefix: tokens before the patch tokens (CLS, distillation, register tokens).
        pool: ``"token"`` (head ``i`` reads token ``i``) or ``"avg"`` (the head reads the mean
            of the patch tokens).
        head_weights: the weight of each classifier head; the logits are the heads' mean.
        blocks: per block, the weights the LRP rules read; ``None`` where only the attention
            maps were traced (the LRP methods then refuse, naming ``lrp_refusal``).
        patch_proj: the patch embedding's convolution (full LRP to the pixels).
        lrp_refusal: why LRP is not available on this model, if it is not.
    """

    name: str
    grid: Tuple[int, int]
    prefix: int
    pool: str
    head_weights: Sequence[Tensor] = ()
    blocks: Optional[List[BlockWeights]] = None
    patch_proj: Optional[nn.Conv2d] = None
    lrp_refusal: str = ""

    def output_rows(self, n_tokens: int) -> slice:
        """Rows of a token-to-token matrix whose mean is the model's output: the heads' tokens
        (CLS, or CLS and distillation token) or, for average pooling, the patch tokens."""
        if self.pool == "avg":
            return slice(self.prefix, n_tokens)
        return slice(0, max(1, len(self.head_weights)))

    def require_lrp(self, method: str) -> List[BlockWeights]:
        """The block weights, or a ``ValueError`` naming what is missing and what works."""
        if self.blocks is None:
            raise ValueError(f"{method} cannot explain this {self.name}: {self.lrp_refusal} "
                             f"The nearest method that works: gradient_weighted_attention "
                             f"(it needs only the attention maps and their gradients; so do "
                             f"{', '.join(m for m in ATTENTION_METHODS[1:])})")
        return self.blocks


def priors_vit_view(model: ViT) -> TransformerView:
    """The :class:`TransformerView` of a :class:`priors.models.ViT`."""
    heads = [model.head.weight] + ([model.head_dist.weight] if model.distilled else [])
    blocks = [BlockWeights(b.attn.qkv.weight, b.attn.proj.weight, b.mlp.fc1.weight,
                           b.mlp.fc2.weight, b.attn.heads) for b in model.blocks]
    return TransformerView("priors.models.ViT", model.grid, model.num_prefix_tokens, "token",
                           heads, blocks, model.patch_embed.proj)


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
        from .timm_vit import trace_timm
        return trace_timm(model, inputs, method)
    if library == "torchvision":
        from .torchvision_vit import trace_torchvision
        return trace_torchvision(model, inputs, method)
    raise ValueError(f"{method} explains a vision transformer: a priors.models.ViT, a timm "
                     f"VisionTransformer (ViT, DeiT) or a torchvision VisionTransformer (it "
                     f"needs the attention maps of every block); got {type(model).__name__}. "
                     f"For other models use {GRADIENT_FALLBACK}")


def refuse(method: str, model: nn.Module, module_name: str, module: nn.Module, why: str,
           nearest: str) -> ValueError:
    """The error for a model part the methods do not cover: names the module and what works."""
    return ValueError(f"{method} cannot explain {type(model).__name__}: its module "
                      f"{module_name or '<root>'} ({type(module).__module__}."
                      f"{type(module).__name__}) {why}. The nearest method that works: "
                      f"{nearest}")
