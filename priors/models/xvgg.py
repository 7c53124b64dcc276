"""X-VGG16: VGG-16 without biases or batch normalization, an X-DNN."""
from __future__ import annotations

from torch import Tensor, nn

from .xalexnet import _channels, _check_sizes
from .piecewise import use_piecewise_layers

# Configuration "D" of Simonyan & Zisserman: conv widths per stage, "M" = 2x2 max-pool.
VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                512, 512, 512, "M")


class XVGG16(nn.Module):
    """VGG-16 (configuration D, no BatchNorm) with every Conv/Linear bias-free.

    Thirteen 3x3 convolutions with ReLU in five stages separated by 2x2 max-pools, adaptive
    average pooling to 7x7 and a classifier of two ``hidden``-wide ReLU layers with dropout and
    a linear output. Bias-free and normalization-free, hence nonnegatively homogeneous: an X-DNN
    on which X-Gradient equals Integrated Gradients with a zero baseline.

    Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
    Recognition", ICLR 2015; X-VGG: Hesse, Schaub-Meyer and Roth, "Fast Axiomatic Attribution
    for Neural Networks", NeurIPS 2021, https://arxiv.org/abs/2111.07668.

    Args:
        num_classes, in_channels: output logits and input channels.
        width: multiplier of the convolution channels (1.0 = VGG-16; small values for tests).
        hidden: width of the two hidden classifier layers (4096 in VGG-16).
        dropout: dropout probability after each hidden classifier layer.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0,
                 hidden: int = 4096, dropout: float = 0.5):
        super().__init__()
        _check_sizes(width, hidden, num_classes)
        layers: list[nn.Module] = []
        channels = in_channels
        for spec in VGG16_LAYERS:
            if spec == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                out = _channels(spec, width)
                layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.ReLU()]
                channels = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * 49, hidden, bias=False), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden, bias=False), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes, bias=False),
        )
        self._init_weights()
        # Same ReLU / max-pool results; their backward differentiates cheaply (priors).
        use_piecewise_layers(self)

    def _init_weights(self) -> None:
        # He initialization for the ReLU convolutions; small normal weights for the classifier.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)))
