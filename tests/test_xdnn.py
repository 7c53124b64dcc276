"""X-DNN conversion and homogeneity checks."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from priors import (NonHomogeneousError, assert_homogeneous, check_homogeneity,
                    find_non_homogeneous, to_xdnn)
from priors.models import MLP


def _cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3 * 3 * 3, 2))


def test_to_xdnn_removes_every_bias_and_copies():
    for model in (MLP(6, hidden=(8, 4)), _cnn()):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        xmodel = to_xdnn(model)
        assert xmodel is not model
        assert not any("bias" in name for name, _ in xmodel.named_parameters())
        assert find_non_homogeneous(xmodel) == []
        # The original keeps its biases and values; weights are copied, not shared.
        assert before.keys() == model.state_dict().keys()
        for k, v in model.state_dict().items():
            assert torch.equal(v, before[k])
        assert any("bias" in name for name, _ in model.named_parameters())
        xparams = {id(p) for p in xmodel.parameters()}
        assert not xparams & {id(p) for p in model.parameters()}


class Affine(nn.Module):
    """A custom layer carrying a bias-like parameter."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.bias = nn.Parameter(torch.zeros(4))

    def forward(self, x):
        return x * self.scale + self.bias


@pytest.mark.parametrize("layer, kind", [
    (nn.BatchNorm1d(4), "BatchNorm1d"),
    (nn.Sigmoid(), "Sigmoid"),
    (nn.GELU(), "GELU"),
    (Affine(), "bias"),
])
def test_to_xdnn_refuses_unfixable_layers_naming_them(layer, kind):
    model = nn.Sequential(nn.Linear(3, 4), layer, nn.Linear(4, 1))
    with pytest.raises(NonHomogeneousError, match=r"layer '1'") as err:
        to_xdnn(model)
    assert kind in str(err.value)


def test_check_homogeneity():
    torch.manual_seed(0)
    x = torch.randn(16, 6)
    xmlp = MLP(6, hidden=(8, 4), bias=False)
    result = check_homogeneity(xmlp, x)
    assert result and result.max_rel_error < 1e-5
    biased = MLP(6, hidden=(8, 4))
    result = check_homogeneity(biased, x)
    assert not result and result.max_rel_error > 1e-2
    assert_homogeneous(xmlp, x)
    with pytest.raises(NonHomogeneousError, match="net.1"):
        assert_homogeneous(biased, x)


class AddConstant(nn.Module):
    """No parameters: vouched for (trusted), it is structurally invisible, but f(a x) != a f(x)."""

    def forward(self, x):
        return x + 0.5


def test_functional_constant_caught_numerically_only():
    model = nn.Sequential(nn.Linear(4, 5, bias=False), AddConstant(), nn.ReLU(),
                          nn.Linear(5, 1, bias=False))
    assert find_non_homogeneous(model, trusted=[AddConstant]) == []
    x = torch.randn(8, 4)
    assert not check_homogeneity(model, x)
    with pytest.raises(NonHomogeneousError, match="relative"):
        assert_homogeneous(model, x, trusted=[AddConstant])


def test_check_homogeneity_restores_training_mode():
    model = MLP(4, hidden=(8,), bias=False, dropout=0.5).train()
    assert check_homogeneity(model, torch.randn(8, 4))  # dropout is off during the check
    assert model.training
