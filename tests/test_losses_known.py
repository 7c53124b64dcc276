"""Known answers of each explanation loss and of the annotation interface; bad inputs."""
from __future__ import annotations

import pytest
import torch
from captum.attr import LayerGradCam
from torch import nn

from priors.losses import (LossPrior, boxes_to_masks, check_fraction, fit_mask, get_loss,
                           partial_annotation, to_reason, tokens_to_masks)
from priors.losses.contextual_decomposition import decompose
from priors.losses.counterexamples import counterexample_inputs
from priors.losses.energy import energy_share
from priors.losses.hint import ranking_loss
from priors.losses.saliency_guided import mask_low_saliency, output_kl
from priors.models.small_cnn import SmallCNN
from priors.models.vit import ViT

D = torch.float64


def _linear(weight: torch.Tensor, bias: bool = False) -> nn.Module:
    """``x (B, 1, H, W) -> weight @ x.flatten()``: logits of a linear model with known weights."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(weight.shape[1], weight.shape[0], bias=bias))
    with torch.no_grad():
        model[1].weight.copy_(weight)
    return model.to(D)


def _cnn(seed=0, classes=3):
    torch.manual_seed(seed)
    return SmallCNN(1, classes, image_size=8, channels=(4, 6), hidden=8).to(D).eval()


# ---------------------------------------------------------------- HINT

def test_hint_ranking_loss_zero_when_orders_agree_and_counts_violations():
    human = torch.tensor([[1.0, 0.5, 0.0]])
    assert float(ranking_loss(torch.tensor([[3.0, 2.0, 1.0]]), human)) == 0.0
    assert float(ranking_loss(torch.tensor([[3.0, 3.0, 3.0]]), human)) == 0.0  # ties: no violation
    # reversed: pairs (0,1), (0,2), (1,2) violated by 1, 2, 1 -> mean 4/3
    assert float(ranking_loss(torch.tensor([[1.0, 2.0, 3.0]]), human)) == pytest.approx(4 / 3)
    assert float(ranking_loss(torch.tensor([[1.0, 2.0, 3.0]]), torch.ones(1, 3))) == 0.0


def test_hint_loss_zero_when_gradcam_order_matches_the_mask():
    model = _cnn()
    x = torch.rand(2, 1, 8, 8, dtype=D)
    target = torch.tensor([0, 1])
    cam = LayerGradCam(model, model.features[3]).attribute(x, target, relu_attributions=True)
    # human importance = the network's own Grad-CAM order: no pair is ranked the other way
    human = cam.detach() / cam.detach().amax()
    values = get_loss("hint")(model, x, target, annotations=nn.functional.interpolate(
        human, size=(8, 8), mode="nearest"), layer="final")
    torch.testing.assert_close(values, torch.zeros(2, dtype=D))


# ---------------------------------------------------------------- Energy

def test_energy_is_one_when_all_positive_attribution_is_inside_the_box():
    weight = torch.zeros(2, 16, dtype=D)
    box = boxes_to_masks(torch.tensor([[0, 0, 2, 2]]), (4, 4), D)  # top-left 2x2
    weight[0] = box.flatten() * 2.0 - (1 - box.flatten()) * 0.5  # negative outside the box
    model = _linear(weight)
    x = torch.rand(1, 1, 4, 4, dtype=D) + 0.1
    attr = x * weight[0].view(1, 1, 4, 4)  # input x gradient of logit 0
    assert float(energy_share(attr, box)) == pytest.approx(1.0, abs=1e-12)
    loss = get_loss("energy")(model, x, torch.tensor([0]), annotations=box)
    assert float(loss) == pytest.approx(0.0, abs=1e-12)
    # half the positive attribution outside: share 1/2
    attr = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]], dtype=D)
    assert float(energy_share(attr, torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]], dtype=D))) == \
        pytest.approx(0.5)


# ---------------------------------------------------------------- PPCE

def test_ppce_zero_when_normalized_attribution_is_one_on_the_mask():
    mask = boxes_to_masks(torch.tensor([[1, 1, 3, 3]]), (4, 4), D)
    model = _linear(torch.stack([mask.flatten(), torch.zeros(16, dtype=D)]))
    x = torch.full((1, 1, 4, 4), 0.5, dtype=D)
    assert float(get_loss("ppce")(model, x, torch.tensor([0]), annotations=mask)) == \
        pytest.approx(0.0, abs=1e-12)
    # one pixel of the mask at half the maximum: -log(0.5) / 4 pixels
    x[0, 0, 1, 1] = 0.25
    assert float(get_loss("ppce")(model, x, torch.tensor([0]), annotations=mask)) == \
        pytest.approx(-torch.log(torch.tensor(0.5)).item() / 4)


# ---------------------------------------------------------------- GradMask

def test_gradmask_is_the_masked_squared_weight_difference_of_a_linear_model():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(2, 16, generator=gen, dtype=D)
    model = _linear(weight)
    x = torch.rand(3, 1, 4, 4, generator=gen, dtype=D)
    mask = torch.zeros_like(x)
    mask[:, :, :2] = 1.0
    values = get_loss("gradmask")(model, x, torch.tensor([0, 1, 1]), annotations=mask)
    diff = (weight[1] - weight[0]).view(1, 4, 4)
    expected = (mask[:, 0] * diff).pow(2).flatten(1).sum(1)
    torch.testing.assert_close(values, expected)


# ---------------------------------------------------------------- RRR on Grad-CAM

def test_rrr_gradcam_matches_captum_gradcam_under_the_pooled_mask():
    model = _cnn(1)
    x = torch.rand(3, 1, 8, 8, dtype=D)
    target = torch.tensor([0, 2, 1])
    mask = torch.zeros_like(x)
    mask[:, :, :4, :] = 1.0  # top half irrelevant
    values = get_loss("rrr_gradcam")(model, x, target, annotations=mask, layer="final")
    cam = LayerGradCam(model, model.features[3]).attribute(x, target, relu_attributions=True)
    cam = cam / cam.flatten(1).amax(1).clamp(min=1e-300).view(-1, 1, 1, 1)  # (an all-0 map)
    pooled = nn.functional.adaptive_avg_pool2d(mask, cam.shape[2:])
    torch.testing.assert_close(values, (pooled * cam).pow(2).flatten(1).sum(1))
    assert float(get_loss("rrr_gradcam")(model, x, target, annotations=mask * 0).abs().max()) == 0


def test_guided_layers_input_mid_final():
    from priors.losses.layers import resolve_layer
    model = _cnn()
    assert resolve_layer(model, "input") is None
    assert resolve_layer(model, "final") is model.features[3]
    assert resolve_layer(model, "mid") is model.features[0]
    x = torch.rand(2, 1, 8, 8, dtype=D)
    mask = torch.zeros_like(x)
    mask[:, :, :2] = 1
    for layer in ("input", "mid", "final", "features.3"):
        assert get_loss("rrr_gradcam")(model, x, torch.tensor([0, 1]), annotations=mask,
                                       layer=layer).shape == (2,)


# ---------------------------------------------------------------- counterexamples

def test_counterexamples_leave_unannotated_pixels_unchanged():
    x = torch.rand(4, 1, 6, 6, dtype=D)
    mask = torch.zeros_like(x)
    mask[:, :, :3, :3] = 1.0
    ce = counterexample_inputs(x, mask, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ce[mask == 0], x[mask == 0])
    inside = ce[mask == 1]
    assert not torch.equal(inside, x[mask == 1])
    assert float(inside.min()) >= float(x.min()) and float(inside.max()) <= float(x.max())


def test_counterexample_loss_is_the_task_loss_on_the_randomized_copy():
    model = _cnn()
    x = torch.rand(3, 1, 8, 8, dtype=D)
    y = torch.tensor([0, 1, 2])
    mask = torch.zeros_like(x)
    mask[:, :, :4, :4] = 1.0
    torch.manual_seed(5)
    values = get_loss("counterexamples")(model, x, labels=y, annotations=mask)
    torch.manual_seed(5)
    expected = nn.functional.cross_entropy(model(counterexample_inputs(x, mask)), y,
                                           reduction="none")
    torch.testing.assert_close(values, expected)


# ---------------------------------------------------------------- saliency-guided training

def test_saliency_guided_kl_is_zero_when_the_model_ignores_masked_features():
    weight = torch.zeros(2, 16, dtype=D)
    weight[0, :4], weight[1, :4] = 1.0, -1.0  # only the first four pixels matter
    model = _linear(weight)
    x = torch.rand(5, 1, 4, 4, dtype=D)
    masked = mask_low_saliency(x, weight[0].abs().view(1, 1, 4, 4).expand_as(x), 0.5)
    assert torch.equal(masked.flatten(1)[:, :4], x.flatten(1)[:, :4])
    assert int((masked != x).sum()) > 0
    values = get_loss("saliency_guided")(model, x, torch.zeros(5, dtype=torch.long))
    torch.testing.assert_close(values, torch.zeros(5, dtype=D), rtol=0, atol=1e-15)


def test_output_kl_matches_torch_kl_div():
    p, q = torch.randn(4, 3, dtype=D), torch.randn(4, 3, dtype=D)
    expected = nn.functional.kl_div(q.log_softmax(1), p.log_softmax(1), log_target=True,
                                    reduction="none").sum(1)
    torch.testing.assert_close(output_kl(p, q), expected)


# ---------------------------------------------------------------- CDEP

def test_cdep_parts_sum_to_the_logits_exactly_on_a_relu_net_float64():
    model = _cnn(2)
    x = torch.rand(4, 1, 8, 8, dtype=D)
    mask = (torch.rand_like(x) > 0.5).to(D)
    rel, irrel = decompose(model, x, mask)
    torch.testing.assert_close(rel + irrel, model(x), rtol=0, atol=1e-12)
    rel0, irrel0 = decompose(model, x, torch.zeros_like(x))
    assert float(rel0.abs().max()) == 0.0
    torch.testing.assert_close(irrel0, model(x), rtol=0, atol=1e-12)
    rel1, irrel1 = decompose(model, x, torch.ones_like(x))
    assert float(irrel1.abs().max()) == 0.0


def test_cdep_on_a_bias_free_linear_model_is_the_masked_linear_map():
    weight = torch.randn(3, 16, dtype=D)
    x = torch.rand(2, 1, 4, 4, dtype=D)
    mask = torch.zeros_like(x)
    mask[:, :, 0] = 1.0
    rel, irrel = decompose(_linear(weight), x, mask)
    torch.testing.assert_close(rel, (x * mask).flatten(1) @ weight.T)
    values = get_loss("cdep")(_linear(weight), x, annotations=mask, form="l1")
    torch.testing.assert_close(values, rel.abs().sum(1))


def test_cdep_refuses_unsupported_layers_naming_them():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(72, 3))
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"layer '1' \(BatchNorm2d\)"):
        get_loss("cdep")(model, x, annotations=torch.zeros_like(x))

    class Doubling(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.b(2 * self.a(x))

    with pytest.raises(ValueError, match="not the previous layer's output"):
        get_loss("cdep")(Doubling(), torch.rand(2, 4), annotations=torch.zeros(2, 4))


# ---------------------------------------------------------------- RobustViT

def test_robustvit_with_all_foreground_is_the_foreground_term():
    from priors.attributions import get_method
    torch.manual_seed(0)
    vit = ViT(image_size=8, patch_size=4, in_channels=1, num_classes=3, depth=1, heads=2, dim=8,
              mlp_ratio=1.0).to(D)
    x = torch.rand(2, 1, 8, 8, dtype=D)
    t = torch.tensor([0, 2])
    fg = torch.ones_like(x)
    values = get_loss("robustvit")(vit, x, t, annotations=fg, lambda_bg=2.0, lambda_fg=0.3)
    r = get_method("gradient_weighted_attention")(vit, x, t).clamp(min=0)
    r = r / r.flatten(1).amax(1).view(-1, 1, 1, 1)
    torch.testing.assert_close(values, 0.3 * (r - 1).pow(2).flatten(1).mean(1))
    with pytest.raises(ValueError, match="ViT"):
        LossPrior("robustvit").compute(_cnn(), x, t, fg)


# ---------------------------------------------------------------- annotation interface

def test_boxes_tokens_reasons_and_fit():
    masks = boxes_to_masks([torch.tensor([[1, 0, 3, 2]]), torch.zeros(0, 4)], (4, 4))
    expected = torch.zeros(2, 1, 4, 4)
    expected[0, 0, 0:2, 1:3] = 1
    assert torch.equal(masks, expected)
    assert torch.equal(to_reason(masks, "wrong", "right"), 1 - masks)
    assert torch.equal(to_reason(masks, "right", "right"), masks)
    tokens = tokens_to_masks(torch.tensor([[1, 0, 1]]), torch.tensor([[1, 1, 0]]))
    assert tokens.tolist() == [[1.0, 0.0, 0.0]]
    assert fit_mask(tokens, torch.zeros(1, 3, 5)).shape == (1, 3, 1)  # rationales on embeddings
    big = torch.zeros(1, 1, 28, 28)
    big[..., :4, :4] = 1
    small = fit_mask(big, torch.zeros(1, 1, 7, 7))
    assert float(small[0, 0, 0, 0]) == 1.0 and float(small.sum()) == 1.0


def test_token_rationales_plug_into_a_loss():
    """A (B, T) right-reason rationale guides per-token attributions of a (B, T) input."""
    weight = torch.zeros(2, 4, dtype=D)
    weight[0, 1] = 1.0
    model = nn.Linear(4, 2, bias=False).to(D)
    with torch.no_grad():
        model.weight.copy_(weight)
    x = torch.ones(1, 4, dtype=D)
    rationale = tokens_to_masks(torch.tensor([[0, 1, 0, 0]])).to(D)
    assert float(get_loss("energy")(model, x, torch.tensor([0]), annotations=rationale)) == 0.0


def test_annotated_fraction_is_checked_and_fixed():
    for bad in (0, 0.0, -0.1, 1.5, float("nan"), True, "all"):
        with pytest.raises(ValueError, match=r"annotated_fraction must be"):
            check_fraction(bad)
    assert check_fraction(1) == 1.0 and check_fraction(0.01) == 0.01
    flags = partial_annotation(1000, 0.01, seed=3)
    assert int(flags.sum()) == 10 and torch.equal(flags, partial_annotation(1000, 0.01, seed=3))


def test_bad_inputs_are_clear_errors():
    model = _cnn()
    x = torch.rand(2, 1, 8, 8, dtype=D)
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="needs annotations"):
        LossPrior("energy").compute(model, x, y, None)
    with pytest.raises(ValueError, match=r"does not fit inputs of shape \(2, 1, 8, 8\)"):
        LossPrior("hint").compute(model, x, y, torch.zeros(2, 1, 4, 4, dtype=D))
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        LossPrior("hint").compute(model, x, y, torch.full_like(x, 2.0))
    with pytest.raises(ValueError, match="boxes must be"):
        boxes_to_masks(torch.zeros(2, 3), (8, 8))
    with pytest.raises(ValueError, match="unknown loss 'hnit'"):
        LossPrior("hnit")
    with pytest.raises(ValueError, match="has no hyperparameter lyer"):
        LossPrior("hint", lyer="mid")
    with pytest.raises(ValueError, match="reason must be one of"):
        LossPrior("hint", reason="irrelevant")
    from priors.data.decoy_mnist import DecoyMNISTDataModule
    with pytest.raises(ValueError, match="annotated_fraction must be in"):
        DecoyMNISTDataModule(annotated_fraction=0.0)
