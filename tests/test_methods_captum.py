"""Parity with Captum (used here as the reference implementation): SmoothGrad, SmoothGrad-squared
and VarGrad vs ``NoiseTunnel``, Guided Backprop, Grad-CAM (``LayerGradCam`` + bilinear
``LayerAttribution.interpolate``) and Guided Grad-CAM, on small CNNs (sklearn digits and
generated 3-channel images) and an MLP, binary (one logit) and multi-class."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from captum.attr import (GuidedBackprop, GuidedGradCam, InputXGradient, LayerAttribution,
                         LayerGradCam, NoiseTunnel, Saliency)
from sklearn.datasets import load_digits
from torch import nn

from priors.attributions import get_method
from priors.models import MLP

pytestmark = pytest.mark.filterwarnings(
    "ignore:Setting backward hooks on ReLU:UserWarning",
    "ignore:Input Tensor 0 did not already require gradients:UserWarning")

# Noise tunnel: same noise draws as Captum (checked below), float32; what differs is the order of
# float32 sums (Captum sums then divides, we average) and, for VarGrad, Captum's E[a^2] - E[a]^2
# vs our centred variance, whose float32 cancellation error is ~1e-7 of E[a^2].
NT_TOL = {"smoothgrad": dict(rtol=1e-5, atol=1e-6), "smoothgrad_sq": dict(rtol=1e-5, atol=1e-6),
          "vargrad": dict(rtol=1e-4, atol=1e-5)}  # atol relative to max |Captum| (see below)
# Guided Backprop / Grad-CAM: the same arithmetic in float64.
EXACT_TOL = dict(rtol=1e-10, atol=1e-12)


class CNN(nn.Module):
    """Conv -> ReLU -> MaxPool -> Conv -> ReLU -> Linear on (B, C, 8, 8) images."""

    def __init__(self, channels: int, out: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(),
        )
        self.head = nn.Linear(6 * 4 * 4, out)
        self.out = out

    def forward(self, x):
        z = self.head(self.features(x))
        return z[:, 0] if self.out == 1 else z


def _digits():
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1)
    # per-example range exactly [0, 1], so our sigma = noise_level x range = Captum's stdev
    lo = x.amin((1, 2, 3), keepdim=True)
    hi = x.amax((1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo), torch.tensor(digits.target)


DIGITS = _digits()


def make_case(kind: str, batch: int = 10):
    """(model, x, target) for cnn/mlp x binary/multi on digits, or cnn3 on generated images."""
    arch, task = kind.split("_")
    torch.manual_seed(0)
    if arch == "cnn3":
        x = torch.rand(batch, 3, 8, 8)
        x[:, 0, 0, 0], x[:, 0, 0, 1] = 0.0, 1.0
        y = (x[:, 0].mean((1, 2)) > x[:, 2].mean((1, 2))).long() + 2 * (x[:, 1, :4].mean((1, 2)) > 0.5)
        channels = 3
    else:
        x, y = DIGITS[0][:300], DIGITS[1][:300]
        channels = 1
    if task == "binary":
        y = (y % 2).float()
    out = 1 if task == "binary" else int(y.max()) + 1
    model = CNN(channels, out) if arch.startswith("cnn") else MLP(64, (16,), out)
    # a few training steps: attributions of a model that has learned something
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(25):
        opt.zero_grad()
        z = model(x)
        loss = (F.binary_cross_entropy_with_logits(z, y) if out == 1 else F.cross_entropy(z, y))
        loss.backward()
        opt.step()
    model.eval()
    target = None if out == 1 else y[:batch]
    return model, x[:batch].clone(), target


def scaled_tol(tol, reference):
    return dict(rtol=tol["rtol"], atol=tol["atol"] * float(reference.abs().max()))


# ------------------------------------------------------------ noise tunnel


@pytest.mark.parametrize("kind", ["cnn_binary", "cnn_multi", "mlp_multi"])
@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_noise_tunnel_matches_captum_with_the_same_noise(kind, nt_type):
    model, x, target = make_case(kind)
    if kind.startswith("mlp"):
        x = x.flatten(1)
    assert torch.all(x.flatten(1).amax(1) - x.flatten(1).amin(1) == 1)
    n, level = 12, 0.2
    for base, captum_base, extra in (("grad", Saliency, {"abs": False}),
                                     ("ixg", InputXGradient, {})):
        torch.manual_seed(11)
        ours = get_method(nt_type)(model, x, target, base=base, n_samples=n, noise_level=level)
        torch.manual_seed(11)
        theirs = NoiseTunnel(captum_base(model)).attribute(
            x, nt_type=nt_type, nt_samples=n, stdevs=level, target=target, **extra)
        assert float(theirs.abs().max()) > 0
        torch.testing.assert_close(ours, theirs, **scaled_tol(NT_TOL[nt_type], theirs))
        # and the noise mattered: the plain gradient differs from SmoothGrad
        if nt_type == "smoothgrad":
            plain = get_method(base)(model, x, target)
            assert float((plain - theirs).abs().max()) > 1e-3 * float(theirs.abs().max())


def test_noise_tunnel_with_internal_batch_size_matches_captum_batches():
    model, x, target = make_case("cnn_multi")
    torch.manual_seed(5)
    ours = get_method("smoothgrad")(model, x, target, n_samples=8, noise_level=0.1,
                                    internal_batch_size=16)
    torch.manual_seed(5)
    # Captum draws the noise chunk by chunk, so only nt_samples_batch_size=None draws like us;
    # ours draws all noise first and then chunks the evaluation.
    theirs = NoiseTunnel(Saliency(model)).attribute(x, nt_samples=8, stdevs=0.1, target=target,
                                                    abs=False)
    torch.testing.assert_close(ours, theirs, **scaled_tol(NT_TOL["smoothgrad"], theirs))


# ------------------------------------------------------------ guided backprop, Grad-CAM


CNN_KINDS = ["cnn_binary", "cnn_multi", "cnn3_multi"]


@pytest.mark.parametrize("kind", CNN_KINDS + ["mlp_multi"])
def test_guided_backprop_matches_captum(kind):
    model, x, target = make_case(kind)
    model, x = model.double(), x.double()
    if kind.startswith("mlp"):
        x = x.flatten(1)
    ours = get_method("guided_backprop")(model, x, target)
    theirs = GuidedBackprop(model).attribute(x, target=target)
    assert float(theirs.detach().abs().max()) > 0
    torch.testing.assert_close(ours, theirs.detach(), **EXACT_TOL)
    assert float((ours - get_method("grad")(model, x, target)).abs().max()) > 1e-6


@pytest.mark.parametrize("kind", CNN_KINDS)
@pytest.mark.parametrize("layer", [None, "features.0"])
def test_grad_cam_matches_captum_layer_grad_cam(kind, layer):
    model, x, target = make_case(kind)
    model, x = model.double(), x.double()
    module = model.features[3] if layer is None else model.get_submodule(layer)  # default: last conv
    ours = get_method("grad_cam")(model, x, target, layer=layer)
    cam = LayerGradCam(model, module).attribute(x, target=target, relu_attributions=True)
    theirs = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")
    assert ours.shape == x.shape
    assert int((theirs.flatten(1).amax(1) > 0).sum()) >= len(x) // 2  # mostly non-trivial maps
    torch.testing.assert_close(ours, theirs.expand_as(x), **EXACT_TOL)


@pytest.mark.parametrize("kind", CNN_KINDS)
def test_guided_grad_cam_matches_captum(kind):
    model, x, target = make_case(kind)
    model, x = model.double(), x.double()
    ours = get_method("guided_grad_cam")(model, x, target)
    theirs = GuidedGradCam(model, model.features[3]).attribute(x, target=target,
                                                               interpolate_mode="bilinear")
    assert float(theirs.detach().abs().max()) > 0
    torch.testing.assert_close(ours, theirs.detach(), **EXACT_TOL)


class SharedReLU(nn.Module):
    """One nn.ReLU module applied three times (as in ResNet blocks): hooked once, fires thrice."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Linear(4 * 64, 10)

    def forward(self, x):
        h = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.head(self.relu(h + 0.5 * x).flatten(1))


def test_guided_backprop_with_a_module_used_several_times_matches_captum():
    torch.manual_seed(0)
    model = SharedReLU().double()
    x, target = DIGITS[0][:8].double(), DIGITS[1][:8]
    ours = get_method("guided_backprop")(model, x, target)
    theirs = GuidedBackprop(model).attribute(x, target=target)
    torch.testing.assert_close(ours, theirs, **EXACT_TOL)
    assert float((ours - get_method("grad")(model, x, target)).abs().max()) > 1e-6
