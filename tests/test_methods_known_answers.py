"""Attribution methods with known answers: a linear model f(x) = w.x, IG baselines, a one-hidden-
layer net for Guided Backprop, a CAM network for Grad-CAM, the random baseline and the naming of
input x gradient vs X-Gradient."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from priors import Prior
from priors.attributions import (ReferenceSampler, expected_gradients, get_method,
                                 integrated_gradients, resolve_method)
from priors.attributions.baselines import gaussian_blur, make_baseline
from priors.config import model_bias

# float64 throughout: the linear model's answers are exact up to a few ulps.
EXACT = dict(rtol=1e-12, atol=1e-12)


def linear_case(batch: int = 7, dim: int = 5, seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Linear(dim, 1, bias=False).double()
    x = torch.randn(batch, dim, dtype=torch.float64)
    return model, x, model.weight.detach()[0]


# ------------------------------------------------------------ linear model f(x) = w.x


def test_linear_gradient_ig_ixg_smoothgrad_vargrad():
    model, x, w = linear_case()
    grad = get_method("grad")(model, x)
    torch.testing.assert_close(grad, w.expand_as(x), **EXACT)
    ig = get_method("ig")(model, x, baseline="zero")
    torch.testing.assert_close(ig, x * w, **EXACT)
    torch.testing.assert_close(get_method("input_x_gradient")(model, x), x * w, **EXACT)
    # Noise does not move the gradient of a linear model: every sample is exactly w.
    sg = get_method("smoothgrad")(model, x, n_samples=16, noise_level=0.5, seed=3)
    torch.testing.assert_close(sg, w.expand_as(x), **EXACT)
    sq = get_method("smoothgrad_sq")(model, x, n_samples=16, noise_level=0.5, seed=3)
    torch.testing.assert_close(sq, (w * w).expand_as(x), **EXACT)
    vg = get_method("vargrad")(model, x, n_samples=16, noise_level=0.5, seed=3)
    assert float(vg.abs().max()) <= 1e-24  # centred variance of identical samples: exactly 0
    # ... also with a base that depends on the noise: SmoothGrad of ixg = mean of (x + e) * w.
    sg_ixg = get_method("smoothgrad")(model, x, base="ixg", n_samples=4000, noise_level=0.1,
                                      seed=0)
    # sigma <= 0.1 * range; the mean of 4000 draws is within ~5 sigma / sqrt(4000) of 0.
    bound = 5 * 0.1 * float((x.max(1).values - x.min(1).values).max()) / 4000 ** 0.5
    assert float((sg_ixg - x * w).abs().max()) <= bound * float(w.abs().max())


class LargeGradient(nn.Module):
    """f(x) = 10 sum x + 0.0005 sum x^2: gradient 10 + 0.001 x, a tiny spread on a large mean."""

    def forward(self, x):
        return 10 * x.sum(1) + 0.0005 * (x * x).sum(1)


def test_vargrad_is_accurate_in_float32_when_gradients_barely_vary():
    # VarGrad = 1e-6 Var_s(e_s), expectation 1e-6 sigma^2 (n-1)/n ~ 2.3e-7, under a squared mean
    # of 100: E[a^2] - E[a]^2 in float32 loses it (float32 spacing at 100 is 7.6e-6); the
    # centred variance keeps it. Mean of 160 entries, each ~ chi^2_14: ~3% relative std.
    x = torch.rand(8, 20, generator=torch.Generator().manual_seed(0))
    x[:, 0], x[:, 1] = 0.0, 1.0  # range 1: sigma = noise_level
    vg = get_method("vargrad")(LargeGradient(), x, n_samples=15, noise_level=0.5, seed=0)
    assert float(vg.min()) >= 0
    assert float(vg.mean()) == pytest.approx(1e-6 * 0.25 * 14 / 15, rel=0.15)


@pytest.mark.parametrize("baseline", ["zero", "mean", "uniform", 0.5])
def test_linear_ig_with_each_baseline_is_difference_times_weight(baseline):
    model, x, w = linear_case()
    refs = torch.randn(50, x.shape[1], dtype=torch.float64) + 2.0
    ig = get_method("ig")(model, x, None, baseline=baseline, references=refs, n_steps=4)
    expected_base = make_baseline(x, baseline, references=refs)
    torch.testing.assert_close(ig, (x - expected_base) * w, **EXACT)
    # completeness: sum IG = f(x) - f(x')
    torch.testing.assert_close(ig.sum(1), (model(x) - model(expected_base))[:, 0], **EXACT)


def test_backward_compatible_positional_and_tensor_baselines():
    model, x, w = linear_case()
    torch.testing.assert_close(integrated_gradients(model, x, 0.5), (x - 0.5) * w, **EXACT)
    base = torch.linspace(-1, 1, x.shape[1], dtype=torch.float64)
    torch.testing.assert_close(integrated_gradients(model, x, base), (x - base) * w, **EXACT)
    torch.testing.assert_close(integrated_gradients(model, x), x * w, **EXACT)


# ------------------------------------------------------------ IG baselines


class ListDataset(Dataset):
    """A dataset that is not a TensorDataset: items are (x, y) tuples."""

    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], 0


def test_mean_baseline_from_tensor_sampler_and_dataset():
    x = torch.rand(4, 3, 5, 5, dtype=torch.float64)
    refs = torch.rand(37, 3, 5, 5, dtype=torch.float64)
    expected = refs.mean(0).expand_as(x)
    for references in (refs, ReferenceSampler(TensorDataset(refs)),
                       ReferenceSampler(ListDataset(refs))):
        torch.testing.assert_close(make_baseline(x, "mean", references=references), expected,
                                   **EXACT)
    with pytest.raises(ValueError, match="needs the training data"):
        make_baseline(x, "mean")
    with pytest.raises(ValueError, match="unknown baseline 'median'"):
        make_baseline(x, "median")


def test_blur_baseline_matches_scipy_and_keeps_constant_images():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 16, 16, dtype=torch.float64)
    ours = make_baseline(x, "blur", blur_sigma=1.0)
    # torchvision's reflect padding is scipy's 'mirror'; its kernel spans 3 sigma.
    ref = gaussian_filter(x.numpy(), sigma=(0, 0, 1.0, 1.0), mode="mirror", truncate=3.0)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert torch.equal(gaussian_blur(x, 1.0), ours)
    # A constant image is its own blur, so IG from the blurred baseline is zero.
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 16 * 16, 3)).double()
    const = torch.full((2, 2, 16, 16), 0.7, dtype=torch.float64)
    ig = get_method("ig")(model, const, 1, baseline="blur", n_steps=4)
    assert float(ig.abs().max()) < 1e-12
    # The default sigma (5 px) on an 8x8 image: the kernel is clipped to the image, no error.
    small = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    blurred = make_baseline(small, "blur")
    assert blurred.shape == small.shape and float(blurred.std()) < float(small.std())
    with pytest.raises(ValueError, match="needs image inputs"):
        get_method("ig")(nn.Linear(4, 1), torch.randn(2, 4), baseline="blur")


def test_uniform_baseline_in_each_examples_range_and_seeded():
    x = torch.randn(6, 40, dtype=torch.float64) * torch.arange(1, 7).view(6, 1)
    u = make_baseline(x, "uniform", seed=1)
    assert torch.all(u >= x.min(1, keepdim=True).values)
    assert torch.all(u <= x.max(1, keepdim=True).values)
    assert torch.equal(u, make_baseline(x, "uniform", seed=1))
    assert not torch.equal(u, make_baseline(x, "uniform", seed=2))


def test_expected_gradients_internal_batch_size_does_not_change_the_result():
    model, x, _ = linear_case()
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    refs = torch.randn(30, 5, dtype=torch.float64)
    torch.manual_seed(4)
    full = expected_gradients(model, x, refs, k=6)
    torch.manual_seed(4)
    chunked = expected_gradients(model, x, refs, k=6, internal_batch_size=5)
    torch.testing.assert_close(chunked, full, **EXACT)


# ------------------------------------------------------------ Guided Backprop, Grad-CAM


def test_guided_backprop_known_answer_one_hidden_layer():
    torch.manual_seed(0)
    W = torch.randn(6, 4, dtype=torch.float64)
    v = torch.randn(6, dtype=torch.float64)
    model = nn.Sequential(nn.Linear(4, 6, bias=False), nn.ReLU(), nn.Linear(6, 1, bias=False))
    model = model.double()
    model[0].weight.data.copy_(W)
    model[2].weight.data.copy_(v.view(1, 6))
    x = torch.randn(9, 4, dtype=torch.float64)
    active = (x @ W.T > 0).double()
    expected = (active * v.clamp(min=0)) @ W  # W^T (1[z > 0] * relu(v)) per example
    torch.testing.assert_close(get_method("guided_backprop")(model, x), expected, **EXACT)
    # the ordinary gradient keeps the negative v: different wherever such a unit is active
    grad = (active * v) @ W
    assert float((grad - expected).abs().max()) > 0.1


class CAMNet(nn.Module):
    """conv (same size) -> ReLU -> global average pool -> linear: Grad-CAM == CAM / (h w)."""

    def __init__(self, channels: int = 2, maps: int = 5, classes: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, maps, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(maps, classes)

    def forward(self, x):
        return self.fc(self.act(self.conv(x)).mean((2, 3)))


def test_grad_cam_known_answer_on_a_cam_network():
    torch.manual_seed(0)
    model = CAMNet().double()
    x = torch.randn(4, 2, 6, 7, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 1])
    # the layer's output is the ReLU: A = relu(conv(x)); dy/dA_kij = w_tk / (h w)
    acts = torch.relu(model.conv(x))
    w = model.fc.weight.detach()[target]  # (B, K)
    cam = torch.relu((w[:, :, None, None] * acts).sum(1, keepdim=True)) / (6 * 7)
    ours = get_method("grad_cam")(model, x, target, layer="act")
    torch.testing.assert_close(ours, cam.expand_as(x).detach(), **EXACT)  # same size: no resampling


# ------------------------------------------------------------ random baseline


class Exploding(nn.Module):
    def forward(self, x):
        raise AssertionError("the random baseline must not call the model")


def test_random_is_seeded_and_independent_of_the_model():
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    method = get_method("random")
    a = method(Exploding(), x, 2, seed=7)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, method(nn.Identity(), x * 3, seed=7))  # nor of the input values
    assert not torch.equal(a, method(Exploding(), x, seed=8))
    assert abs(float(a.mean())) < 0.2 and abs(float(a.std()) - 1) < 0.15  # N(0, 1), 240 draws
    assert not method.differentiable
    with pytest.raises(ValueError, match="not differentiable"):
        method(Exploding(), x, create_graph=True)


# ------------------------------------------------------------ naming


def test_input_x_gradient_and_x_gradient_names():
    assert resolve_method("input_x_gradient") == "ixg"
    assert resolve_method("x_gradient") == "xg"
    assert get_method("xg").requires_xdnn and not get_method("ixg").requires_xdnn
    assert get_method("xg").fn is get_method("ixg").fn
    assert model_bias("xg") is False and model_bias("ixg") is True
    assert Prior("xg").method == "xg" and Prior("input_x_gradient").method == "ixg"
    assert get_method("grad_cam").requires_conv and get_method("guided_grad_cam").requires_conv
    assert not get_method("guided_backprop").differentiable
