"""priors.models.ViT: timm-compatible state_dict layout, sizes, input checks, the traced forward."""
from __future__ import annotations

import pytest
import torch

from priors.models import ViT


def _timm_vit_tiny_state_dict(depth=12, dim=192, classes=1000, seed=0):
    """A state dict built by name with the shapes of timm's vit_tiny_patch16_224 (no timm)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {"cls_token": (1, 1, dim), "pos_embed": (1, 197, dim),
              "patch_embed.proj.weight": (dim, 3, 16, 16), "patch_embed.proj.bias": (dim,)}
    for i in range(depth):
        p = f"blocks.{i}."
        shapes.update({
            p + "norm1.weight": (dim,), p + "norm1.bias": (dim,),
            p + "attn.qkv.weight": (3 * dim, dim), p + "attn.qkv.bias": (3 * dim,),
            p + "attn.proj.weight": (dim, dim), p + "attn.proj.bias": (dim,),
            p + "norm2.weight": (dim,), p + "norm2.bias": (dim,),
            p + "mlp.fc1.weight": (4 * dim, dim), p + "mlp.fc1.bias": (4 * dim,),
            p + "mlp.fc2.weight": (dim, 4 * dim), p + "mlp.fc2.bias": (dim,)})
    shapes.update({"norm.weight": (dim,), "norm.bias": (dim,),
                   "head.weight": (classes, dim), "head.bias": (classes,)})
    return {k: torch.randn(s, generator=gen) * 0.02 for k, s in shapes.items()}


def test_timm_vit_tiny_checkpoint_loads_strictly():
    state = _timm_vit_tiny_state_dict()
    model = ViT(224, 16, 3, 1000, depth=12, heads=3, dim=192, mlp_ratio=4.0)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(model.state_dict()) == set(state)
    # The tensors land where their names say.
    assert torch.equal(model.blocks[7].attn.qkv.weight, state["blocks.7.attn.qkv.weight"])
    assert torch.equal(model.head.bias, state["head.bias"])
    assert model.grid == (14, 14)
    # A wrong size is refused by name, not loaded silently.
    small = ViT(224, 16, 3, 1000, depth=12, heads=3, dim=192, mlp_ratio=2.0)
    with pytest.raises(RuntimeError, match="mlp.fc1.weight"):
        small.load_state_dict(state, strict=True)


def test_forward_matches_a_hand_written_pre_norm_transformer():
    torch.manual_seed(0)
    model = ViT(12, 4, 2, 5, depth=2, heads=2, dim=8).double().eval()
    x = torch.rand(3, 2, 12, 12, dtype=torch.float64)
    # The same network from the formulas (Dosovitskiy et al. 2021), with the model's weights.
    sd = model.state_dict()
    patches = x.unfold(2, 4, 4).unfold(3, 4, 4).permute(0, 2, 3, 1, 4, 5).reshape(3, 9, 32)
    h = patches @ sd["patch_embed.proj.weight"].reshape(8, 32).T + sd["patch_embed.proj.bias"]
    h = torch.cat([sd["cls_token"].expand(3, 1, 8), h], 1) + sd["pos_embed"]

    def ln(t, name):
        return torch.nn.functional.layer_norm(t, (8,), sd[name + ".weight"], sd[name + ".bias"],
                                              1e-6)

    def lin(t, name):
        return t @ sd[name + ".weight"].T + sd[name + ".bias"]

    for i in range(2):
        p = f"blocks.{i}."
        q, k, v = lin(ln(h, p + "norm1"), p + "attn.qkv").split(8, -1)
        heads = [torch.softmax(q[..., j:j + 4] @ k[..., j:j + 4].transpose(1, 2) / 2.0, -1)
                 @ v[..., j:j + 4] for j in (0, 4)]
        h = h + lin(torch.cat(heads, -1), p + "attn.proj")
        mid = torch.nn.functional.gelu(lin(ln(h, p + "norm2"), p + "mlp.fc1"))
        h = h + lin(mid, p + "mlp.fc2")
    expected = lin(ln(h[:, 0], "norm"), "head")
    torch.testing.assert_close(model(x), expected, rtol=1e-10, atol=1e-10)
    logits, trace = model.forward_trace(x)
    torch.testing.assert_close(logits, expected, rtol=1e-10, atol=1e-10)
    assert len(trace.attentions) == 2 and trace.attentions[0].shape == (3, 2, 10, 10)
    torch.testing.assert_close(trace.attentions[1].sum(-1), torch.ones(3, 2, 10, dtype=x.dtype))


def test_rectangular_images_and_bad_arguments():
    model = ViT((8, 16), 4, 1, 3, depth=1, heads=1, dim=4)
    assert model.grid == (2, 4) and model(torch.rand(2, 1, 8, 16)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"\(batch, 1, 8, 16\)"):
        model(torch.rand(2, 1, 16, 8))
    with pytest.raises(ValueError, match="must divide image_size"):
        ViT(28, 5)
    with pytest.raises(ValueError, match="heads"):
        ViT(28, 7, dim=10, heads=3)
    with pytest.raises(ValueError, match="depth"):
        ViT(28, 7, depth=0)
