"""Vision Transformer (ViT) with timm-compatible parameter names and an optional forward trace.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale", ICLR 2021, https://arxiv.org/abs/2010.11929: the image is cut into ``patch_size``
squares, each linearly embedded (a strided convolution), a learned CLS token is prepended and a
learned position embedding added; pre-norm blocks
``x = x + attn(norm1(x)); x = x + mlp(norm2(x))`` follow, then a LayerNorm and a linear head
on the CLS token.

The ``state_dict`` keys follow timm's ``vit_*_patch16_224`` models (``cls_token``,
``pos_embed``, ``patch_embed.proj``, ``blocks.{i}.norm1``, ``blocks.{i}.attn.qkv``,
``blocks.{i}.attn.proj``, ``blocks.{i}.norm2``, ``blocks.{i}.mlp.fc1``, ``blocks.{i}.mlp.fc2``,
``norm``, ``head``), so such a checkpoint loads with ``strict=True`` into
``ViT(224, 16, 3, 1000, depth=12, heads=3, dim=192)`` (ViT-Tiny) and the like; LayerNorm eps is
1e-6 and the MLP uses exact GELU, as there. ``distilled=True`` adds DeiT's distillation token
(Touvron et al., "Training data-efficient image transformers & distillation through
attention", ICML 2021, https://arxiv.org/abs/2012.12877): a second learned token after the CLS
token (``dist_token``) with its own head (``head_dist``); the logits are the mean of both heads,
as in timm's ``deit_*_distilled_patch16_224`` at inference.

:meth:`ViT.forward_trace` also returns a :class:`ViTTrace` of the intermediate tensors that the
relevance-propagation and attention-attribution methods in
:mod:`priors.attributions.transformer` need (attention probabilities that stay in the graph, so
gradients with respect to them can be taken).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

Size = Union[int, Tuple[int, int]]


def _pair(value: Size, name: str) -> Tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


@dataclass
class ViTTrace:
    """Intermediate tensors of one forward pass (all still in the autograd graph).

    ``embed``: ``x`` (the input), ``tokens`` (CLS + patch embeddings, before the position
    embedding) and ``pos_embed``; ``blocks``: one dict per block with ``x`` (block input), ``n1``, ``qkv``
    (``(3, B, heads, N, head_dim)``), ``attn`` (softmax probabilities ``(B, heads, N, N)``),
    ``ctx`` (``attn @ v`` with heads merged, ``(B, N, dim)``), ``attn_out``, ``x1``
    (after the first residual add), ``n2``, ``h`` (fc1 output), ``g`` (GELU output),
    ``mlp_out``, ``out``; ``final``: ``tokens`` (last block output), ``pooled`` (normalized CLS
    token), ``head_inputs`` / ``head_outputs`` (per classifier head: its input and output; the
    logits are their mean) and ``logits``.
    """

    embed: Dict[str, Tensor] = field(default_factory=dict)
    blocks: List[Dict[str, Tensor]] = field(default_factory=list)
    final: Dict[str, Tensor] = field(default_factory=dict)

    @property
    def attentions(self) -> List[Tensor]:
        """Attention probabilities of every block, ``(B, heads, N, N)`` each."""
        return [b["attn"] for b in self.blocks]


class PatchEmbed(nn.Module):
    """Non-overlapping patches, linearly embedded: ``proj`` is a ``patch_size``-strided conv."""

    def __init__(self, image_size: Tuple[int, int], patch_size: Tuple[int, int],
                 in_channels: int, dim: int):
        super().__init__()
        self.grid = (image_size[0] // patch_size[0], image_size[1] // patch_size[1])
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, patches, dim)


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection (timm's layout)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, trace: Optional[Dict[str, Tensor]] = None) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(-1)
        ctx = (attn @ v).transpose(1, 2).reshape(b, n, d)
        out = self.proj(ctx)
        if trace is not None:
            trace.update(qkv=qkv, attn=attn, ctx=ctx, attn_out=out)
        return out


class Mlp(nn.Module):
    """``fc1 -> GELU -> fc2``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, trace: Optional[Dict[str, Tensor]] = None) -> Tensor:
        h = self.fc1(x)
        g = self.act(h)
        out = self.fc2(g)
        if trace is not None:
            trace.update(h=h, g=g, mlp_out=out)
        return out


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``+ mlp(norm2(.))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, qkv_bias: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, trace: Optional[Dict[str, Tensor]] = None) -> Tensor:
        n1 = self.norm1(x)
        x1 = x + self.attn(n1, trace)
        n2 = self.norm2(x1)
        out = x1 + self.mlp(n2, trace)
        if trace is not None:
            trace.update(x=x, n1=n1, x1=x1, n2=n2, out=out)
        return out


class ViT(nn.Module):
    """Vision Transformer classifier (Dosovitskiy et al., ICLR 2021), timm parameter names.

    Args:
        image_size: input side (or ``(H, W)``); inputs must have exactly this size.
        patch_size: patch side (or pair); must divide ``image_size``.
        in_channels: input channels.
        num_classes: outputs of the head.
        depth: number of blocks.
        heads: attention heads per block; must divide ``dim``.
        dim: token width (embedding dimension).
        mlp_ratio: MLP hidden width = ``int(dim * mlp_ratio)``.
        qkv_bias: bias in the fused ``qkv`` projection (timm's default: yes).
        distilled: add DeiT's distillation token and head (logits: mean of both heads).

    ``ViT(224, 16, 3, 1000, depth=12, heads=3, dim=192)`` has the layout of timm's
    ``vit_tiny_patch16_224`` (``heads=6, dim=384``: small; ``heads=12, dim=768``: base).
    """

    def __init__(self, image_size: Size = 224, patch_size: Size = 16, in_channels: int = 3,
                 num_classes: int = 1000, depth: int = 12, heads: int = 12, dim: int = 768,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, distilled: bool = False):
        super().__init__()
        self.image_size = _pair(image_size, "image_size")
        self.patch_size = _pair(patch_size, "patch_size")
        if any(s % p for s, p in zip(self.image_size, self.patch_size)):
            raise ValueError(f"patch_size {self.patch_size} must divide image_size "
                             f"{self.image_size}")
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                            ("depth", depth), ("heads", heads), ("dim", dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if dim % heads:
            raise ValueError(f"heads ({heads}) must divide dim ({dim})")
        if not mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio}")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.depth, self.heads, self.dim = depth, heads, dim
        self.patch_embed = PatchEmbed(self.image_size, self.patch_size, in_channels, dim)
        self.grid = self.patch_embed.grid
        self.distilled = bool(distilled)
        self.num_prefix_tokens = 2 if self.distilled else 1
        n_tokens = self.grid[0] * self.grid[1] + self.num_prefix_tokens
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        if self.distilled:
            self.dist_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, qkv_bias) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)
        if self.distilled:
            self.head_dist = nn.Linear(dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # Truncated-normal(0.02) position embedding / CLS token / linear weights, zero biases,
        # as in the ViT reference training setup.
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if self.distilled:
            nn.init.trunc_normal_(self.dist_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != self.image_size:
            raise ValueError(f"ViT expects inputs of shape (batch, {self.in_channels}, "
                             f"{self.image_size[0]}, {self.image_size[1]}); got "
                             f"{tuple(x.shape)}")

    def _forward(self, x: Tensor, trace: Optional[ViTTrace]) -> Tensor:
        self._check_input(x)
        patches = self.patch_embed(x)
        prefix = [self.cls_token] + ([self.dist_token] if self.distilled else [])
        tokens = torch.cat([t.expand(len(x), -1, -1) for t in prefix] + [patches], 1)
        h = tokens + self.pos_embed
        if trace is not None:
            trace.embed.update(x=x, tokens=tokens, pos_embed=self.pos_embed.expand_as(tokens))
        for block in self.blocks:
            record = {} if trace is not None else None
            h = block(h, record)
            if trace is not None:
                trace.blocks.append(record)
        normed = self.norm(h)
        heads = [self.head] + ([self.head_dist] if self.distilled else [])
        inputs = [normed[:, i] for i in range(len(heads))]
        outputs = [head(z) for head, z in zip(heads, inputs)]
        logits = outputs[0] if len(outputs) == 1 else (outputs[0] + outputs[1]) / 2
        if trace is not None:
            trace.final.update(tokens=h, pooled=inputs[0], head_inputs=inputs,
                               head_outputs=outputs, logits=logits)
        return logits

    def forward(self, x: Tensor) -> Tensor:
        return self._forward(x, None)

    def forward_trace(self, x: Tensor) -> Tuple[Tensor, ViTTrace]:
        """Logits and the :class:`ViTTrace` of this forward pass."""
        trace = ViTTrace()
        return self._forward(x, trace), trace
