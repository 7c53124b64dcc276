"""What the transformer rules need to know about an architecture, whatever its library: a
:class:`TransformerView` (grid, prefix tokens, pooling, head and block weights) and the refusal
message for parts the methods do not cover. The adapters (:mod:`.timm_vit`,
:mod:`.torchvision_vit`) build views; :mod:`.trace` picks the adapter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from torch import Tensor, nn

from ...models.vit import ViT

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


def refuse(method: str, model: nn.Module, module_name: str, module: nn.Module, why: str,
           nearest: str) -> ValueError:
    """The error for a model part the methods do not cover: names the module and what works."""
    return ValueError(f"{method} cannot explain {type(model).__name__}: its module "
                      f"{module_name or '<root>'} ({type(module).__module__}."
                      f"{type(module).__name__}) {why}. The nearest method that works: "
                      f"{nearest}")
