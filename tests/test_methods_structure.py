"""Guided Backprop's hooks are removed even when the model raises; Grad-CAM's layer choice and its
errors on models without feature maps; every registered method through the registry on a small
CNN (4-D inputs) and an MLP (2-D inputs); Grad-CAM's gradient w.r.t. the parameters."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from priors import Prior
from priors.attributions import available_methods, get_method
from priors.attributions.baselines import make_baseline
from priors.models import MLP


def hooks_of(model: nn.Module):
    """Every hook dictionary of every module, by name: all must be empty outside a method."""
    return {f"{name}.{attr}": dict(getattr(m, attr)) for name, m in model.named_modules()
            for attr in ("_backward_hooks", "_backward_pre_hooks", "_forward_hooks",
                         "_forward_pre_hooks")
            if getattr(m, attr)}


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_guided_backprop_removes_its_hooks_when_the_model_raises():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 8),
                          nn.ReLU(inplace=True), Boom())
    x = torch.randn(3, 4)
    with pytest.raises(RuntimeError, match="boom"):
        get_method("guided_backprop")(model, x)
    assert hooks_of(model) == {}
    assert model[1].inplace and model[3].inplace  # flags restored
    # an error after the forward (a bad target) also leaves no hooks behind
    model[4] = nn.Linear(8, 2)
    with pytest.raises(ValueError, match="out of range"):
        get_method("guided_backprop")(model, x, 5)
    assert hooks_of(model) == {}


def test_after_guided_backprop_the_gradient_is_ordinary_again():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(inplace=True), nn.Linear(16, 3))
    x = torch.randn(6, 4)
    before = get_method("grad")(model, x, 1)
    guided = get_method("guided_backprop")(model, x, 1)
    after = get_method("grad")(model, x, 1)
    assert torch.equal(before, after) and not torch.equal(before, guided)
    assert hooks_of(model) == {}
    # in-place ReLUs give the same guided backprop as out-of-place ones
    out_of_place = nn.Sequential(model[0], nn.ReLU(), model[2])
    torch.testing.assert_close(get_method("guided_backprop")(out_of_place, x, 1), guided,
                               rtol=0, atol=0)


class FunctionalReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 1)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))[:, 0]


def test_guided_backprop_refuses_models_without_relu_modules():
    with pytest.raises(ValueError, match="nn.ReLU modules.*FunctionalReLU has none"):
        get_method("guided_backprop")(FunctionalReLU(), torch.randn(2, 4))
    with pytest.raises(ValueError, match="cannot be a training prior"):
        Prior("guided_backprop")


class CNN(nn.Module):
    def __init__(self, out: int = 3):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.head = nn.Linear(5 * 4 * 4, out)
        self.out = out

    def forward(self, x):
        z = self.head(self.features(x))
        return z[:, 0] if self.out == 1 else z


def test_grad_cam_layer_choice_and_errors():
    torch.manual_seed(0)
    model, x, t = CNN(), torch.randn(3, 2, 8, 8), torch.tensor([0, 2, 1])
    method = get_method("grad_cam")
    default = method(model, x, t)
    torch.testing.assert_close(default, method(model, x, t, layer="features.3"), rtol=0, atol=0)
    torch.testing.assert_close(default, method(model, x, t, layer=model.features[3]),
                               rtol=0, atol=0)
    with pytest.raises(ValueError, match="no layer 'features.9'.*features.3"):
        method(model, x, t, layer="features.9")
    with pytest.raises(ValueError, match=r"feature maps \(B, K, h, w\).*Linear gives \(3, 3\)"):
        method(model, x, t, layer="head")
    with pytest.raises(ValueError, match="is not a module of CNN"):
        method(model, x, t, layer=nn.Conv2d(2, 4, 3))
    shared = nn.ReLU()
    twice = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), shared, nn.Conv2d(3, 3, 1), shared,
                          nn.Flatten(), nn.Linear(3 * 64, 1))
    with pytest.raises(ValueError, match="ran 2 times"):
        method(twice, x, layer=shared)
    # the forward hook is gone after an error inside the forward
    broken = nn.Sequential(nn.Conv2d(2, 3, 3), Boom())
    with pytest.raises(RuntimeError, match="boom"):
        method(broken, x)
    assert hooks_of(broken) == {}


@pytest.mark.parametrize("name", ["grad_cam", "guided_grad_cam"])
def test_grad_cam_on_an_mlp_names_the_problem(name):
    with pytest.raises(ValueError, match="needs a convolutional layer.*MLP has no nn.Conv2d"):
        get_method(name)(MLP(6, (8,), 3), torch.randn(4, 6), 1)
    # a CNN fed non-image inputs is refused with the expected shape named
    with pytest.raises(ValueError, match=r"image inputs \(B, C, H, W\)"):
        get_method(name)(CNN(), torch.randn(4, 2, 8), 1)


# ------------------------------------------------------------ every method via the registry


def _cases():
    torch.manual_seed(0)
    cnn, x_img = CNN(3).eval(), torch.rand(5, 2, 8, 8)
    mlp, x_tab = MLP(6, (8, 8), 1).eval(), torch.randn(5, 6)
    return [("cnn", cnn, x_img, torch.tensor([0, 1, 2, 1, 0])), ("mlp", mlp, x_tab, None)]


# ViTs: test_transformer_*; text methods: test_text_attributions.py
@pytest.mark.parametrize("name", available_methods(requires_vit=False, requires_embeddings=False))
def test_every_method_through_the_registry_on_cnn_and_mlp(name):
    method = get_method(name)
    for arch, model, x, target in _cases():
        kwargs = dict(references=x.flip(0))
        if method.requires_conv and arch == "mlp":
            with pytest.raises(ValueError, match="nn.Conv2d"):
                method(model, x, target, **kwargs)
            continue
        torch.manual_seed(1)
        a = method(model, x, target, **kwargs)
        assert a.shape == x.shape and a.dtype == x.dtype and bool(torch.isfinite(a).all())
        assert not a.requires_grad  # create_graph=False: a plain tensor


DETERMINISTIC = ["grad", "ixg", "ig", "guided_backprop", "grad_cam", "guided_grad_cam"]


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_batching_does_not_change_deterministic_methods(name):
    method = get_method(name)
    for arch, model, x, target in _cases():
        if method.requires_conv and arch == "mlp":
            continue
        whole = method(model, x, target)
        parts = torch.cat([method(model, x[i:i + 1], None if target is None else target[i:i + 1])
                           for i in range(len(x))])
        torch.testing.assert_close(whole, parts, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("baseline", ["zero", "mean", "blur", "uniform"])
def test_ig_string_baselines_through_the_registry(baseline):
    # a smooth CNN in float64: Gauss-Legendre converges fast, completeness holds tightly
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Softplus(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).double()
    x, target = torch.rand(5, 2, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])
    refs = torch.rand(20, 2, 8, 8, dtype=torch.float64)
    ig = get_method("ig")(model, x, target, baseline=baseline, references=refs, n_steps=32)
    base = make_baseline(x, baseline, references=refs)
    assert float((x - base).abs().max()) > 0.1  # the baseline is not the input
    gap = (model(x) - model(base)).gather(1, target.view(-1, 1))[:, 0].detach()
    torch.testing.assert_close(ig.sum((1, 2, 3)), gap, rtol=1e-8, atol=1e-10)


def test_grad_cam_is_differentiable_wrt_the_parameters():
    # create_graph=True: a penalty on the map has the right gradient w.r.t. the head's weight
    # (which enters through the pooled gradients alpha_k): checked against finite differences.
    torch.manual_seed(0)
    model = CNN(3).double()
    x, t = torch.rand(3, 2, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2])
    w0 = model.head.weight.detach().clone()
    del model.head.weight  # a plain tensor attribute from now on, set by the penalty

    def penalty(w):
        model.head.weight = w
        return get_method("grad_cam")(model, x, t, create_graph=True).pow(2).sum()

    w = w0.requires_grad_(True)
    assert float(torch.autograd.grad(penalty(w), w)[0].abs().max()) > 0
    assert torch.autograd.gradcheck(penalty, (w,), eps=1e-6, atol=1e-6)


def test_prior_ixg_config_keeps_the_model_bias():
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from priors.app import TRAIN_CONF

    conf = str(TRAIN_CONF)
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        ixg = compose("train", overrides=["prior=ixg"])
        xg = compose("train", overrides=["prior=xg"])
    assert ixg.model.bias is True and xg.model.bias is False
    prior = instantiate(ixg.prior)
    assert prior.method == "ixg" and not prior.requires_xdnn
