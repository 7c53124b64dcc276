"""X-AlexNet, X-VGG16 and X-ResNet-50 (Fixup): architecture, homogeneity, XG == IG."""
from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn

from priors import check_homogeneity, find_non_homogeneous, input_x_gradient, integrated_gradients
from priors.models import XAlexNet, XResNet50, XVGG16
from priors.models.xresnet import XBottleneck

# Small widths and inputs keep float64 tests fast; the full architectures are checked on "meta".
SMALL = {
    "xalexnet": (lambda: XAlexNet(num_classes=5, width=0.25, hidden=64), 64),
    "xvgg16": (lambda: XVGG16(num_classes=5, width=0.125, hidden=64), 32),
    "xresnet50": (lambda: XResNet50(num_classes=5, width=0.25), 32),
}


def _weight_shapes(model: nn.Module) -> list:
    return sorted(tuple(p.shape) for p in model.parameters() if p.dim() > 1)


def _randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random He-scaled weights everywhere (Fixup zeroes the residual branches and the head,
    which would make X-Gradient == IG hold trivially)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel()
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * math.sqrt(1.0 / fan_in))
    return model


@pytest.mark.parametrize("ours, theirs", [
    (XAlexNet, torchvision.models.alexnet),
    (XVGG16, torchvision.models.vgg16),
    (XResNet50, torchvision.models.resnet50),
])
def test_full_architectures_match_torchvision_without_biases(ours, theirs):
    with torch.device("meta"):
        model, reference = ours(num_classes=1000), theirs(num_classes=1000)
    assert _weight_shapes(model) == _weight_shapes(reference)
    assert not [n for n, _ in model.named_parameters() if "bias" in n]
    assert find_non_homogeneous(model) == []
    # torchvision's ResNet-50 has BatchNorm; ours has none.
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@pytest.mark.parametrize("name", sorted(SMALL))
def test_homogeneous_and_xg_equals_ig(name):
    build, size = SMALL[name]
    torch.manual_seed(0)
    model = _randomize(build().double()).eval()
    x = torch.rand(3, 3, size, size, dtype=torch.float64)
    result = check_homogeneity(model, x)
    assert result, result
    target = torch.tensor([0, 2, 4])
    xg = input_x_gradient(model, x, target=target)
    ig = integrated_gradients(model, x, target=target, n_steps=16)
    assert xg.abs().max() > 0
    torch.testing.assert_close(xg, ig, rtol=1e-9, atol=1e-12 * float(xg.abs().max()))
    # Completeness: the attributions sum to the attributed logit.
    logits = model(x).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(xg.sum((1, 2, 3)), logits, rtol=1e-9, atol=1e-12)


def test_a_bias_breaks_homogeneity_and_xg_ig_agreement():
    """Negative control: the same check and comparison fail once one convolution has a bias."""
    torch.manual_seed(0)
    model = _randomize(XAlexNet(num_classes=5, width=0.25, hidden=64).double()).eval()
    conv = model.features[0]
    conv.bias = nn.Parameter(torch.full((conv.out_channels,), 0.5, dtype=torch.float64))
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    assert not check_homogeneity(model, x)
    assert find_non_homogeneous(model) == [("features.0", "Conv2d has a bias")]
    xg = input_x_gradient(model, x, target=1)
    ig = integrated_gradients(model, x, target=1, n_steps=16)
    assert (xg - ig).abs().max() > 1e-3 * xg.abs().max()


def test_fixup_initialization():
    torch.manual_seed(0)
    model = XResNet50(num_classes=10).requires_grad_(False)
    blocks = [m for m in model.modules() if isinstance(m, XBottleneck)]
    assert len(blocks) == model.num_branches == 16
    assert model.fixup_scale == pytest.approx(16 ** -0.25)  # L^(-1/(2m-2)), m = 3
    assert torch.count_nonzero(model.fc.weight) == 0

    def he_std(conv):
        return math.sqrt(2.0 / (conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]))

    for block in blocks:
        assert torch.count_nonzero(block.conv3.weight) == 0
        for conv in (block.conv1, block.conv2):
            ratio = float(conv.weight.std()) / (he_std(conv) * model.fixup_scale)
            assert ratio == pytest.approx(1.0, abs=0.06)
        if isinstance(block.shortcut, nn.Conv2d):  # shortcuts are not scaled
            ratio = float(block.shortcut.weight.std()) / he_std(block.shortcut)
            assert ratio == pytest.approx(1.0, abs=0.06)
    stem = model.stem[0]
    assert float(stem.weight.std()) / he_std(stem) == pytest.approx(1.0, abs=0.06)
    # Zero residual branches: each block is relu(shortcut(x)); the zero head gives zero logits.
    x = torch.rand(2, 3, 64, 64)
    block = blocks[1]
    h = torch.rand(2, block.conv1.in_channels, 8, 8)
    torch.testing.assert_close(block(h), torch.relu(h))
    assert torch.count_nonzero(model(x)) == 0


@pytest.mark.parametrize("build", [XAlexNet, XVGG16, XResNet50])
def test_constructor_options(build):
    model = build(num_classes=7, in_channels=1, width=0.125)
    size = 64
    out = model(torch.rand(2, 1, size, size))
    assert out.shape == (2, 7)
    with pytest.raises(ValueError, match="width"):
        build(num_classes=7, width=0.0)
