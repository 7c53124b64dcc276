"""The optimized prior step computes the straightforward step's gradients (issue 13): layers
with cheap double backward (priors.models.piecewise) and the backward restricted to the
parameters change no number (float64, within 1e-6 relative; seen: bit-identical)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from priors import Prior
from priors.models import MLP
from priors.models.piecewise import MaxPool2d, ReLU, use_piecewise_layers
from priors.step import backward_to_parameters, prior_step_loss


def plain_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 8, bias=False), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(8, 3, bias=False)).double()


def grads(model, method, x, y, refs, restricted):
    model.zero_grad(set_to_none=True)
    prior = Prior(method, "tv", 0.5, **({"n_steps": 4} if method == "ig" else {}))
    torch.manual_seed(1)  # same references, alphas, noise and dropout masks
    loss = prior_step_loss(model, prior, x, y, "multiclass", references=refs).loss
    if restricted:
        backward_to_parameters(loss, list(model.parameters()))
    else:
        loss.backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("method", ["xg", "eg", "ig", "smoothgrad", "grad"])
def test_optimized_step_equals_the_straightforward_one(method):
    plain = plain_cnn()
    fast = use_piecewise_layers(copy.deepcopy(plain))
    assert sum(isinstance(m, (ReLU, MaxPool2d)) for m in fast.modules()) == 5
    x = torch.randn(5, 1, 7, 7, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])
    refs = torch.randn(9, 1, 7, 7, dtype=torch.float64)
    expected = grads(plain, method, x, y, refs, restricted=False)
    got = grads(fast, method, x, y, refs, restricted=True)
    assert sum(float(g.abs().sum()) for g in expected) > 0
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-12)


def test_piecewise_layers_match_torch_in_value_first_and_second_order():
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64, requires_grad=True)
    for ours, theirs in ((ReLU(), nn.ReLU()), (MaxPool2d(3, 2, 1), nn.MaxPool2d(3, 2, 1))):
        a, b = ours(x), theirs(x)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        v = torch.randn_like(a)
        (ga,) = torch.autograd.grad(a, x, v, create_graph=True)
        (gb,) = torch.autograd.grad(b, x, v, create_graph=True)
        torch.testing.assert_close(ga, gb, rtol=0, atol=0)
        w = torch.randn_like(ga)  # second order w.r.t. the upstream gradient v
        v.requires_grad_(True)
        (ga,) = torch.autograd.grad(ours(x), x, v, create_graph=True)
        (gb,) = torch.autograd.grad(theirs(x), x, v, create_graph=True)
        torch.testing.assert_close(torch.autograd.grad((ga * w).sum(), v)[0],
                                   torch.autograd.grad((gb * w).sum(), v)[0], rtol=0, atol=0)


def test_the_project_models_use_the_piecewise_layers():
    relus = [m for m in MLP(4, (3, 3)).modules() if isinstance(m, nn.ReLU)]
    assert relus and all(type(m) is ReLU for m in relus)
