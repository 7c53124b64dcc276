"""A small ReLU CNN for small images (scikit-learn's digits); ``bias=False`` gives an X-CNN."""
from __future__ import annotations

from torch import Tensor, nn
from .piecewise import use_piecewise_layers


class SmallCNN(nn.Module):
    """``conv3x3-ReLU-maxpool2`` x 2, then ``Linear-ReLU-Linear``.

    Small enough to train on a CPU in seconds (used by the ROAR/KAR and sanity-check tests and
    examples). Max pooling and ReLU are positively homogeneous, so with ``bias=False`` the whole
    network is nonnegatively homogeneous (an X-DNN, Hesse et al. NeurIPS 2021) and X-Gradient
    equals Integrated Gradients with a zero baseline.

    Args:
        in_channels: image channels.
        num_classes: output logits.
        image_size: side of the (square) input; must be divisible by 4.
        channels: output channels of the two convolutions.
        hidden: width of the hidden linear layer.
        bias: use biases (``False``: X-CNN).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 16,
                 channels: tuple = (16, 32), hidden: int = 64, bias: bool = True):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (two 2x2 poolings), got {image_size}")
        c1, c2 = (int(c) for c in channels)
        side = image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * side * side, hidden, bias=bias), nn.ReLU(),
            nn.Linear(hidden, num_classes, bias=bias),
        )
        # Same ReLU / max-pool results; their backward differentiates cheaply (priors).
        use_piecewise_layers(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
