"""The options of Chefer et al.'s reference code, each against a small case computed by hand."""
from __future__ import annotations

import pytest
import torch

from priors.attributions import get_method
from priors.attributions.transformer import propagate_relevance, rules
from priors.models import ViT


def _vit(depth=2):
    torch.manual_seed(0)
    model = ViT(6, 2, 1, 3, depth=depth, heads=2, dim=8).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.4)
    return model


def _cls_row(matrix):
    return matrix[:, 0, 1:].reshape(-1, 1, 3, 3)


def _attention_grads(model, x, target):
    logits, trace = model.forward_trace(x)
    picked = logits.gather(1, target.view(-1, 1)).sum()
    return trace, torch.autograd.grad(picked, trace.attentions)


def test_zb_rule_known_answer():
    # x = [1, 3], w = [2, -1], bounds [0, 4]: z = (2 - 3) - 0 * 2 - 4 * (-1) = 3;
    # R = [(2 - 0) / 3, (-3 + 4) / 3] = [2/3, 1/3] of the output's relevance 1.
    conv = torch.nn.Conv2d(1, 1, (1, 2), bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[2.0, -1.0]]]]))
    x = torch.tensor([[[[1.0, 3.0]]]], dtype=torch.float64)
    r = rules.conv_zb(x, conv, torch.ones(1, 1, 1, 1, dtype=torch.float64),
                      torch.zeros(1, 1, 1, 1, dtype=torch.float64),
                      torch.full((1, 1, 1, 1), 4.0, dtype=torch.float64), eps=0)
    torch.testing.assert_close(r, torch.tensor([[[[2 / 3, 1 / 3]]]], dtype=torch.float64))


def test_full_lrp_rules_and_conservation():
    model = _vit()
    x, target = torch.rand(2, 1, 6, 6, dtype=torch.float64), torch.tensor([0, 2])
    _, trace = model.forward_trace(x)
    for rule in ("zb", "alpha1_beta0"):
        rel = propagate_relevance(model, trace, target, pixels=True, first_rule=rule)
        torch.testing.assert_close(get_method("full_lrp")(model, x, target, first_rule=rule),
                                   rel.pixels.detach())
    zb = get_method("full_lrp")(model, x, target)
    assert not torch.allclose(zb, get_method("lrp")(model, x, target, first_rule="alpha1_beta0"))
    with pytest.raises(ValueError, match="first_rule must be 'zb' or 'alpha1_beta0'"):
        get_method("full_lrp")(model, x, target, first_rule="z+")


def test_start_layer_leaves_the_first_blocks_out_of_transformer_attribution():
    model = _vit()
    x, target = torch.rand(2, 1, 6, 6, dtype=torch.float64), torch.tensor([1, 2])
    trace, grads = _attention_grads(model, x, target)
    rel = propagate_relevance(model, trace, target).attention
    eye = torch.eye(10, dtype=torch.float64)
    steps = [eye + (g * r).clamp(min=0).mean(1) for g, r in zip(grads, rel)]
    for start, product in ((0, steps[1] @ steps[0]), (1, steps[1]), (None, steps[1])):
        kw = {} if start is None else {"start_layer": start}
        out = get_method("transformer_attribution")(model, x, target, **kw)
        torch.testing.assert_close(out, _upsampled(_cls_row(product.detach())))
    with pytest.raises(ValueError, match=r"start_layer must be a block index in \[0, 2\)"):
        get_method("rollout")(model, x, start_layer=2)


def _upsampled(row):
    return torch.nn.functional.interpolate(row, size=(6, 6), mode="bilinear", align_corners=False)


def test_partial_lrp_clamps_before_the_head_mean_unless_asked_not_to():
    model = _vit(depth=1)
    x, target = torch.rand(2, 1, 6, 6, dtype=torch.float64), torch.tensor([0, 1])
    _, trace = model.forward_trace(x)
    rel = propagate_relevance(model, trace, target).attention[0].detach()
    assert float(rel.min()) < 0  # negative relevance exists: the option matters
    clamped = get_method("partial_lrp")(model, x, target)
    plain = get_method("partial_lrp")(model, x, target, clamp=False)
    torch.testing.assert_close(clamped, _upsampled(_cls_row(rel.clamp(min=0).mean(1))))
    torch.testing.assert_close(plain, _upsampled(_cls_row(rel.mean(1))))
    assert not torch.allclose(clamped, plain)


def test_attention_gradcam_head_weights_cls_row_or_whole_map():
    model = _vit()
    x, target = torch.rand(2, 1, 6, 6, dtype=torch.float64), torch.tensor([2, 0])
    trace, grads = _attention_grads(model, x, target)
    attn, grad = trace.attentions[-1].detach(), grads[-1]
    for option, weights in (("cls_row", grad[:, :, 0, 1:].mean(-1)),
                            ("map", grad.mean((2, 3)))):
        cam = (weights[..., None, None] * attn).mean(1).clamp(min=0)
        kw = {} if option == "cls_row" else {"head_weights": option}
        torch.testing.assert_close(get_method("attention_gradcam")(model, x, target, **kw),
                                   _upsampled(_cls_row(cam)), msg=option)
    with pytest.raises(ValueError, match="head_weights must be 'cls_row' or 'map'"):
        get_method("attention_gradcam")(model, x, target, head_weights="mean")
