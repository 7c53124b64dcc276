"""Multilayer perceptrons; ``bias=False`` gives the X-MLP (an X-DNN)."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn
from .piecewise import use_piecewise_layers


class MLP(nn.Module):
    """``Linear -> ReLU -> [Dropout]`` blocks and a final linear layer.

    With ``bias=False`` every layer is bias-free and the network is nonnegatively homogeneous
    (an X-MLP, Hesse et al. NeurIPS 2021), so X-Gradient equals IG with a zero baseline.
    Inputs of any shape ``(B, *features)`` are flattened.
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (512, 128, 32),
                 out_features: int = 1, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h, bias=bias), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_features, bias=bias))
        self.net = nn.Sequential(*layers)
        self.out_features = out_features
        # Same ReLU / max-pool results; their backward differentiates cheaply (priors).
        use_piecewise_layers(self)

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out[:, 0] if self.out_features == 1 else out
