"""timm vision transformers from a config, by the same size names as :class:`priors.models.ViT`.

``timm.create_model(name, pretrained=False, ...)`` with ``image_size``, ``patch_size``,
``in_channels``, ``num_classes``, ``depth``, ``heads``, ``dim`` and ``mlp_ratio`` mapped to
timm's ``img_size``, ``patch_size``, ``in_chans``, ``num_classes``, ``depth``, ``num_heads``,
``embed_dim``, ``mlp_ratio``, so ``model=timm_vit`` takes the overrides that ``model=vit``
takes. Nothing is downloaded: a user's own weights come from ``checkpoint`` (a ``state_dict``
file, or a Lightning checkpoint whose ``state_dict`` keys start with ``model.``), loaded with
``strict=True``. The transformer methods explain the returned timm model as it is
(:mod:`priors.attributions.transformer.timm_vit`).
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn


def timm_vit(name: str = "vit_tiny_patch16_224", image_size: int = 224, patch_size: int = 16,
             in_channels: int = 3, num_classes: int = 1000, depth: Optional[int] = None,
             heads: Optional[int] = None, dim: Optional[int] = None,
             mlp_ratio: Optional[float] = None, checkpoint: Optional[str] = None,
             **timm_kwargs: Any) -> nn.Module:
    """A timm ``VisionTransformer`` (``name``: any timm ViT/DeiT), random-initialized unless
    ``checkpoint`` is given; ``None`` sizes keep the named model's own."""
    try:
        import timm
    except ImportError as err:  # optional extra
        raise ImportError("model=timm_vit needs timm: pip install 'priors[timm]'") from err
    sizes = dict(img_size=image_size, patch_size=patch_size, in_chans=in_channels,
                 num_classes=num_classes, depth=depth, num_heads=heads, embed_dim=dim,
                 mlp_ratio=mlp_ratio)
    kwargs = {k: v for k, v in sizes.items() if v is not None}
    model = timm.create_model(name, pretrained=False, **kwargs, **timm_kwargs)
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        if all(k.startswith("model.") for k in state):
            state = {k[len("model."):]: v for k, v in state.items()}
        model.load_state_dict(state, strict=True)
    return model
