"""X-ResNet-50: a bias-free, normalization-free Fixup ResNet-50, an X-DNN."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from .xalexnet import _channels
from .piecewise import use_piecewise_layers

RESNET50_BLOCKS = (3, 4, 6, 3)


class XBottleneck(nn.Module):
    """ResNet bottleneck ``relu(conv3(relu(conv2(relu(conv1(x))))) + shortcut(x))``, bias-free.

    The stride sits on the 3x3 convolution (ResNet v1.5, as in torchvision); the shortcut is
    the identity or a strided bias-free 1x1 convolution. A sum of two nonnegatively homogeneous
    maps followed by ReLU is again homogeneous.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out:
            self.shortcut = nn.Conv2d(in_channels, out, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        branch = self.conv3(self.relu(self.conv2(self.relu(self.conv1(x)))))
        return self.relu(branch + self.shortcut(x))


class XResNet50(nn.Module):
    """ResNet-50 in the Fixup form without BatchNorm, biases or scalar multipliers.

    BatchNorm breaks nonnegative homogeneity, so (following Hesse et al., who trained their
    X-ResNet-50 this way) it is replaced by Fixup initialization: with ``L`` residual branches
    of ``m`` layers (here ``L = 16`` bottlenecks, ``m = 3``), the last convolution of every
    branch and the classification layer start at zero, and the other branch convolutions get
    He initialization scaled by :math:`L^{-1/(2m-2)}` (= 0.5 here). Fixup's scalar biases and
    multipliers are left out, since biases would break homogeneity (a multiplier could be
    folded into the next convolution). At initialization every residual branch outputs zero
    and the logits are zero; training moves them away.

    Zhang, Dauphin and Ma, "Fixup Initialization: Residual Learning Without Normalization",
    ICLR 2019, https://arxiv.org/abs/1901.09321; He et al., "Deep Residual Learning for Image
    Recognition", CVPR 2016; X-ResNet: Hesse, Schaub-Meyer and Roth, "Fast Axiomatic
    Attribution for Neural Networks", NeurIPS 2021, https://arxiv.org/abs/2111.07668.

    Args:
        num_classes, in_channels: output logits and input channels.
        width: multiplier of all channel counts (1.0 = ResNet-50 with a 2048-wide head).
        blocks: bottlenecks per stage (``(3, 4, 6, 3)`` = ResNet-50).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0,
                 blocks: Sequence[int] = RESNET50_BLOCKS):
        super().__init__()
        if width <= 0 or num_classes < 1 or not blocks or min(blocks) < 1:
            raise ValueError(f"need width > 0, num_classes >= 1 and blocks >= 1 per stage; got "
                             f"{width}, {num_classes}, {tuple(blocks)}")
        stem = _channels(64, width)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False), nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        channels = stem
        for i, n in enumerate(blocks):
            planes = _channels(64 * 2 ** i, width)
            stage = []
            for j in range(n):
                stage.append(XBottleneck(channels, planes, stride=2 if (i > 0 and j == 0) else 1))
                channels = planes * XBottleneck.expansion
            stages.append(nn.Sequential(*stage))
        self.layers = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(channels, num_classes, bias=False)
        self.num_branches = sum(blocks)
        self.fixup_scale = self.num_branches ** (-1.0 / (2 * 3 - 2))
        self.reset_parameters()
        # Same ReLU / max-pool results; their backward differentiates cheaply (priors).
        use_piecewise_layers(self)

    def reset_parameters(self) -> None:
        """Fixup initialization (see the class docstring)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for block in self.modules():
            if isinstance(block, XBottleneck):
                block.conv1.weight.data.mul_(self.fixup_scale)
                block.conv2.weight.data.mul_(self.fixup_scale)
                nn.init.zeros_(block.conv3.weight)
        nn.init.zeros_(self.fc.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.layers(self.stem(x))))
