"""Every registered explanation loss: shape, finite, differentiable, batch == singles, gradcheck.

The losses are read from the registry, so a new loss file is tested here without listing it.
"""
from __future__ import annotations

import contextlib

import pytest
import torch

from priors.losses import LossPrior, available_losses, get_loss
from priors.models.small_cnn import SmallCNN
from priors.models.vit import ViT

LOSSES = available_losses()


def _model(spec):
    torch.manual_seed(0)
    if spec.requires_vit:
        model = ViT(image_size=8, patch_size=4, in_channels=1, num_classes=3, depth=1, heads=2,
                    dim=8, mlp_ratio=1.0)
    else:
        model = SmallCNN(1, 3, image_size=8, channels=(4, 6), hidden=8)
    return model.double().eval()


def _batch(n=4):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(3, (n,), generator=gen)
    mask = torch.zeros_like(x)
    mask[:, :, :4, :4] = 1.0  # "wrong" reasons: the top-left quarter
    mask[1] = 0
    mask[1, :, 4:, 4:] = 1.0
    return x, y, mask


def _values(spec, model, x, y, mask, seed=0):
    torch.manual_seed(seed)  # stochastic losses: the same draws in every evaluation
    prior = LossPrior(spec.name, 1.0)
    xin = prior.forward_inputs(x)
    out = prior.penalize(model, xin, model(xin), y, mask)
    return out.attributions, out.penalty


def test_registry_is_not_empty_and_described():
    assert len(LOSSES) >= 9
    for name in LOSSES:
        spec = get_loss(name)
        assert spec.fn.__doc__ and "http" in spec.fn.__doc__, f"{name}: cite the paper"
        assert ".. math::" in spec.fn.__doc__, f"{name}: give the formula"


@pytest.mark.parametrize("name", LOSSES)
def test_shape_finite_differentiable(name, one_thread):
    spec = get_loss(name)
    model = _model(spec)
    x, y, mask = _batch()
    values, penalty = _values(spec, model, x, y, mask)
    assert values.shape == (len(x),)
    assert torch.isfinite(values).all() and torch.isfinite(penalty)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(penalty, params, allow_unused=True)
    norms = [float(g.abs().sum()) for g in grads if g is not None]
    assert norms and all(torch.isfinite(torch.tensor(norms))), name
    assert sum(norms) > 0, f"{name}: no gradient reaches the parameters"


@pytest.mark.parametrize("name", [n for n in LOSSES if not get_loss(n).stochastic])
def test_batch_equals_singles(name, one_thread):
    spec = get_loss(name)
    model = _model(spec)
    x, y, mask = _batch()
    batch, _ = _values(spec, model, x, y, mask)
    singles = torch.cat([_values(spec, model, x[i:i + 1], y[i:i + 1], mask[i:i + 1])[0]
                         for i in range(len(x))])
    torch.testing.assert_close(batch, singles, rtol=1e-9, atol=1e-12)


@contextlib.contextmanager
def _weight_swapped(module: torch.nn.Module, name: str, value: torch.Tensor):
    """``module.<name>`` replaced by a plain tensor (so the loss is a function of it)."""
    original = module._parameters.pop(name)
    setattr(module, name, value)
    try:
        yield
    finally:
        delattr(module, name)
        module._parameters[name] = original


@pytest.mark.parametrize("name", LOSSES)
def test_gradcheck_last_layer(name, one_thread):
    """Finite differences of the loss w.r.t. the last linear layer's weight (float64)."""
    spec = get_loss(name)
    model = _model(spec)
    x, y, mask = _batch(2)
    layer = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]

    def loss_of(weight):
        with _weight_swapped(layer, "weight", weight):
            return _values(spec, model, x, y, mask)[1]

    w = layer.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(loss_of, (w,), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", [n for n in LOSSES if get_loss(n).needs_annotations])
def test_partial_annotation_averages_annotated_examples_only(name, one_thread):
    spec = get_loss(name)
    model = _model(spec)
    x, y, mask = _batch()
    partial = mask.clone()
    partial[[0, 2]] = float("nan")
    torch.manual_seed(0)
    prior = LossPrior(spec.name, 1.0)
    out = prior.compute(model, x, y, partial)
    keep = torch.tensor([1, 3])
    torch.manual_seed(0)
    expected = prior.compute(model, x[keep], y[keep], mask[keep]).penalty
    torch.testing.assert_close(out.penalty, expected, rtol=1e-9, atol=1e-12)
    none = prior.compute(model, x, y, torch.full_like(mask, float("nan")))
    assert float(none.penalty) == 0.0 and not none.penalty.requires_grad
