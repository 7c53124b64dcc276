"""X-AlexNet: AlexNet without biases, a nonnegatively homogeneous network (an X-DNN)."""
from __future__ import annotations

from torch import Tensor, nn
from .piecewise import use_piecewise_layers


def _channels(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


def _check_sizes(width: float, hidden: int, num_classes: int) -> None:
    if width <= 0 or hidden < 1 or num_classes < 1:
        raise ValueError(f"need width > 0, hidden >= 1, num_classes >= 1; got {width}, "
                         f"{hidden}, {num_classes}")


class XAlexNet(nn.Module):
    """AlexNet (the single-stream variant in torchvision) with every Conv/Linear bias-free.

    Layers: five convolutions (64, 192, 384, 256, 256 channels; kernels 11/4, 5, 3, 3, 3) with
    ReLU and three 3x3/2 max-pools, adaptive average pooling to 6x6, and a classifier of dropout,
    two ``hidden``-wide ReLU layers and a linear output. ReLU, max-pool, average pooling, dropout
    and bias-free linear maps are all nonnegatively homogeneous, so the network is an X-DNN and
    X-Gradient equals Integrated Gradients with a zero baseline.

    Krizhevsky, Sutskever and Hinton, "ImageNet Classification with Deep Convolutional Neural
    Networks", NeurIPS 2012; X-AlexNet: Hesse, Schaub-Meyer and Roth, "Fast Axiomatic
    Attribution for Neural Networks", NeurIPS 2021, https://arxiv.org/abs/2111.07668.

    Args:
        num_classes: logits per example.
        in_channels: input channels (3 for RGB).
        width: multiplier of the convolution channels (1.0 = AlexNet; small values for tests).
        hidden: width of the two hidden classifier layers (4096 in AlexNet).
        dropout: dropout probability before the first two classifier layers.

    Inputs must be at least 63x63 pixels (three stride-2 pools after a stride-4 convolution).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0,
                 hidden: int = 4096, dropout: float = 0.5):
        super().__init__()
        _check_sizes(width, hidden, num_classes)
        c = [_channels(b, width) for b in (64, 192, 384, 256, 256)]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 11, stride=4, padding=2, bias=False), nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(c[0], c[1], 5, padding=2, bias=False), nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(c[1], c[2], 3, padding=1, bias=False), nn.ReLU(),
            nn.Conv2d(c[2], c[3], 3, padding=1, bias=False), nn.ReLU(),
            nn.Conv2d(c[3], c[4], 3, padding=1, bias=False), nn.ReLU(),
            nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c[4] * 36, hidden, bias=False), nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden, bias=False), nn.ReLU(),
            nn.Linear(hidden, num_classes, bias=False),
        )
        # Same ReLU / max-pool results; their backward differentiates cheaply (priors).
        use_piecewise_layers(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)))
