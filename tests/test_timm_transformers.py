"""The transformer methods on timm and torchvision models as they come (float64).

Reference: the same method on :class:`priors.models.ViT` loaded with the same weights (its own
``forward_trace``, checked against Chefer et al.'s code in the issue that introduced it).
"""
from __future__ import annotations

import pytest
import torch

from priors.attributions import available_methods, get_method
from priors.attributions.transformer import propagate_relevance, trace_transformer
from priors.models import ViT

timm = pytest.importorskip("timm")

METHODS = tuple(available_methods(requires_vit=True))
SEVEN = {"transformer_attribution", "partial_lrp", "rollout", "raw_attention",
         "attention_gradcam", "gradient_weighted_attention", "full_lrp"}
IMAGE, PATCH, CLASSES = 64, 16, 5  # vit_tiny_patch16_224's layout on a 4x4 grid


def _randomize(model, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():  # O(1) weights: every layer mixes relevance (init is near-identity)
        for p in model.parameters():
            p.normal_(0.0, 0.3 if p.dim() > 1 else 0.1)
    return model


def _timm(name="vit_tiny_patch16_224", depth=12, **kw):
    model = timm.create_model(name, pretrained=False, img_size=IMAGE, num_classes=CLASSES,
                              depth=depth, weight_init="skip", **kw)  # randomized below
    return _randomize(model.double().eval())


def _ours_like(model, distilled=False, qkv_bias=True):
    ours = ViT(IMAGE, PATCH, 3, CLASSES, depth=len(model.blocks),
               heads=model.blocks[0].attn.num_heads, dim=model.embed_dim, qkv_bias=qkv_bias,
               distilled=distilled).double().eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    return ours


def _inputs(n=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, IMAGE, IMAGE, generator=g, dtype=torch.float64)


def _relative(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("kind", ["vit_tiny", "deit_distilled", "no_qkv_bias"])
def test_every_method_equals_priors_vit_with_the_same_weights(kind):
    assert set(METHODS) == SEVEN
    if kind == "deit_distilled":
        model = _timm("deit_tiny_distilled_patch16_224", depth=4)  # depth 12: vit_tiny
        ours = _ours_like(model, distilled=True)
    elif kind == "no_qkv_bias":
        model = _timm(depth=3, qkv_bias=False)
        ours = _ours_like(model, qkv_bias=False)
    else:
        model = _timm()
        ours = _ours_like(model)
    assert model.blocks[0].attn.fused_attn  # timm would hide the probabilities: traced anyway
    x, target = _inputs(), torch.tensor([0, 3, 4])
    torch.testing.assert_close(model(x), ours(x), rtol=1e-10, atol=1e-12)
    for name in METHODS:
        theirs, reference = get_method(name)(model, x, target), get_method(name)(ours, x, target)
        assert float(reference.abs().max()) > 0, name
        print(f"{kind} {name}: max relative difference {_relative(theirs, reference):.1e}")
        assert _relative(theirs, reference) < 1e-6, name
    # The swaps and hooks are gone afterwards: timm's own forward, nothing recorded.
    assert "forward" not in model.blocks[0].attn.__dict__
    assert not model.blocks[0].norm1._forward_hooks


def _totals(relevance):
    parts = relevance if isinstance(relevance, tuple) else (relevance,)
    return sum(p.flatten(1).sum(1) for p in parts)


VARIANTS = {  # timm options priors.models.ViT does not have: conservation and batching only
    "layer_scale": dict(init_values=0.5, depth=3),
    "avg_pool": dict(global_pool="avg", class_token=False, depth=3),
    "avg_pool_cls": dict(global_pool="avg", depth=3),
    "unfused_no_embed_class": dict(no_embed_class=True, depth=3, patch_size=8),
    "deit_distilled": dict(name="deit_tiny_distilled_patch16_224", depth=3),
    "registers_qk_norm": dict(reg_tokens=2, qk_norm=True, depth=3),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_relevance_is_conserved_layer_by_layer_on_timm_models(variant):
    kw = dict(VARIANTS[variant])
    model = _timm(**kw)
    if variant.startswith("unfused"):
        for block in model.blocks:
            block.attn.fused_attn = False
    x, target = _inputs(4), torch.tensor([0, 1, 2, 4])
    with torch.no_grad():
        logits, trace, view = trace_transformer(model, x, "test")
    torch.testing.assert_close(logits, model(x), rtol=1e-10, atol=1e-12)
    rel = propagate_relevance(view, trace, target, record=True, pixels=True, first_rule="zb")
    assert rel.layers[-1][0] == "patch_embed" and len(rel.layers) == 4 + 10 * len(model.blocks)
    for name, r in rel.layers:
        torch.testing.assert_close(_totals(r), torch.ones(4, dtype=torch.float64), rtol=0,
                                   atol=1e-6, msg=lambda m: f"{variant} layer {name}: {m}")
    assert all(float(a.detach().flatten(1).sum(1).abs().min()) > 1e-4 for a in rel.attention)


@pytest.mark.parametrize("variant", [
    dict(name="deit_tiny_distilled_patch16_224", init_values=0.5, depth=2, embed_dim=48),
    dict(global_pool="avg", depth=2, embed_dim=48)])
def test_a_batch_of_8_equals_8_single_images(variant):
    model = _timm(**variant)
    x, target = _inputs(8), torch.tensor([0, 1, 2, 3, 4, 4, 0, 2])
    for name in METHODS:
        batch = get_method(name)(model, x, target)
        singles = torch.cat([get_method(name)(model, x[i:i + 1], int(target[i]))
                             for i in range(8)])
        assert batch.shape == x.shape
        torch.testing.assert_close(batch, singles, rtol=1e-9, atol=1e-12, msg=name)


def test_a_timm_relevance_map_is_a_differentiable_prior():
    model = _timm(depth=2)
    x, target = _inputs(2), torch.tensor([1, 2])
    for name in ("gradient_weighted_attention", "transformer_attribution"):
        model.zero_grad()
        get_method(name)(model, x, target, create_graph=True).square().sum().backward()
        assert float(model.blocks[0].attn.qkv.weight.grad.abs().sum()) > 0, name


def test_unsupported_variants_are_refused_naming_the_module_and_a_method_that_works():
    x = torch.rand(1, 3, 56, 56)
    swin = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, embed_dim=16,
                             depths=(1, 1), num_heads=(1, 2), img_size=56, window_size=7,
                             num_classes=3)
    with pytest.raises(ValueError, match=r"layers\.0\.blocks\.0\.attn .*WindowAttention.*"
                                         r"local windows.*nearest method.*integrated_gradients"):
        get_method("gradient_weighted_attention")(swin, x, 0)
    beit = timm.create_model("beit_base_patch16_224", pretrained=False, embed_dim=16, depth=1,
                             num_heads=2, img_size=32, patch_size=8, num_classes=3)
    with pytest.raises(ValueError, match=r"blocks\.0\.attn .*beit\.Attention.*relative position "
                                         r"bias.*integrated_gradients"):
        get_method("transformer_attribution")(beit, x[..., :32, :32], 0)
    pooled = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32,
                               patch_size=8, num_classes=3, global_pool="map", depth=1)
    with pytest.raises(ValueError, match="attn_pool .*global_pool='map'"):
        get_method("rollout")(pooled, x[..., :32, :32])
    with pytest.raises(ValueError, match="priors.models.ViT, a timm VisionTransformer"):
        get_method("rollout")(torch.nn.Linear(4, 2), torch.rand(2, 4))


def _torchvision_pair():
    from torchvision.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    tv = VisionTransformer(IMAGE, PATCH, num_layers=2, num_heads=3, hidden_dim=24, mlp_dim=48,
                           num_classes=CLASSES)
    tv = _randomize(tv.double().eval())
    sd = tv.state_dict()
    ours = ViT(IMAGE, PATCH, 3, CLASSES, depth=2, heads=3, dim=24, mlp_ratio=2.0).double().eval()
    mapped = {"cls_token": sd["class_token"], "pos_embed": sd["encoder.pos_embedding"],
              "patch_embed.proj.weight": sd["conv_proj.weight"],
              "patch_embed.proj.bias": sd["conv_proj.bias"], "norm.weight": sd["encoder.ln.weight"],
              "norm.bias": sd["encoder.ln.bias"], "head.weight": sd["heads.head.weight"],
              "head.bias": sd["heads.head.bias"]}
    names = {"norm1": "ln_1", "norm2": "ln_2", "attn.qkv": "self_attention.in_proj",
             "attn.proj": "self_attention.out_proj", "mlp.fc1": "mlp.0", "mlp.fc2": "mlp.3"}
    for i in range(2):
        for ours_name, tv_name in names.items():
            for kind in ("weight", "bias"):
                key = f"encoder.layers.encoder_layer_{i}.{tv_name}"
                key += f"_{kind}" if tv_name.endswith("in_proj") else f".{kind}"
                mapped[f"blocks.{i}.{ours_name}.{kind}"] = sd[key]
    ours.load_state_dict(mapped, strict=True)
    return tv, ours


def test_torchvision_vit_attention_methods_equal_priors_vit_and_lrp_is_refused():
    tv, ours = _torchvision_pair()
    x, target = _inputs(), torch.tensor([0, 3, 4])
    torch.testing.assert_close(tv(x), ours(x), rtol=1e-10, atol=1e-12)
    for name in ("gradient_weighted_attention", "rollout", "raw_attention", "attention_gradcam"):
        assert _relative(get_method(name)(tv, x, target), get_method(name)(ours, x, target)) \
            < 1e-6, name
    for name in ("transformer_attribution", "partial_lrp", "full_lrp"):
        with pytest.raises(ValueError, match="torchvision VisionTransformer.*nearest method that "
                                             "works: gradient_weighted_attention"):
            get_method(name)(tv, x, target)
