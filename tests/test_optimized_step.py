"""The optimized prior step computes the straightforward step's gradients (issue 13): layers
with cheap double backward (priors.models.piecewise), the backward restricted to the
parameters and split into penalty then task loss change no number (float64, within 1e-6
relative; seen: identical up to summation order)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from priors import Prior
from priors.models import MLP, XAlexNet, XResNet50, XVGG16
from priors.models.piecewise import AdaptiveAvgPool2d, MaxPool2d, ReLU, use_piecewise_layers
import priors.step
from priors.attributions import get_method
from priors.step import SplitDecision, _split_scale, backward_to_parameters, prior_step_loss


def plain_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(6 * 3 * 3, 8, bias=False), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(8, 3, bias=False)).double()


def grads(model, method, x, y, refs, restricted, scale=None, split=None):
    model.zero_grad(set_to_none=True)
    prior = Prior(method, "tv", 0.5, **({"n_steps": 4} if method == "ig" else {}))
    torch.manual_seed(1)  # same references, alphas, noise and dropout masks
    step = prior_step_loss(model, prior, x, y, "multiclass", references=refs)
    if split is not None:  # force the split where it would not pay (it must still be exact)
        step = step._replace(split=SplitDecision(split))
    loss = step.loss if scale is None else scale(step.loss)
    if restricted:
        backward_to_parameters(loss, list(model.parameters()), step=step)
    else:
        loss.backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("method", ["xg", "eg", "ig", "smoothgrad", "grad"])
def test_optimized_step_equals_the_straightforward_one(method):
    plain = plain_cnn()
    fast = use_piecewise_layers(copy.deepcopy(plain))
    assert sum(isinstance(m, (ReLU, MaxPool2d, AdaptiveAvgPool2d)) for m in fast.modules()) == 6
    x = torch.randn(5, 1, 7, 7, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])
    refs = torch.randn(9, 1, 7, 7, dtype=torch.float64)
    expected = grads(plain, method, x, y, refs, restricted=False)
    got = grads(fast, method, x, y, refs, restricted=True)
    assert sum(float(g.abs().sum()) for g in expected) > 0
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("method", ["xg", "rrr"])
@pytest.mark.parametrize("piecewise", [False, True])
def test_split_backward_equals_one_backward(method, piecewise):
    """Penalty then task loss (step=...) against one backward of the sum, also when the loss
    is scaled as Lightning scales it (AMP, gradient accumulation), and (forced) where the
    attribution graph runs through the forward graph: RRR, torch's own layers."""
    model = plain_cnn()
    if piecewise:
        use_piecewise_layers(model)
    x = torch.randn(5, 1, 7, 7, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])
    for scale in (None, lambda loss: loss * 1024.0 / 2):
        expected = grads(model, method, x, y, None, restricted=False, scale=scale)
        got = grads(model, method, x, y, None, restricted=True, scale=scale, split=True)
        for e, g in zip(expected, got):
            torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-12)


def test_split_backward_is_used_only_where_it_pays_and_is_exact(monkeypatch):
    x = torch.randn(5, 1, 7, 7, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])
    model = use_piecewise_layers(plain_cnn())
    # A model this small (1 KiB of weights) has no buffer worth a second backward call.
    step = prior_step_loss(model, Prior("xg", "tv", 0.5), x, y, "multiclass")
    assert step.split.pays is False and _split_scale(step.loss, step) is None
    monkeypatch.setattr(priors.step, "SPLIT_MIN_BYTES", 0)  # as if the weights were big
    # Pays where the penalty's gradient stays off the forward graph: not for RRR (log-softmax)
    # nor on torch's own ReLU / pooling layers. Watched in the first backward, then remembered.
    for net, method, pays in ((model, "xg", True), (model, "rrr", False),
                              (plain_cnn(), "xg", False)):
        prior = Prior(method, "tv", 0.5)
        for _ in range(2):
            step = prior_step_loss(net, prior, x, y, "multiclass")
            backward_to_parameters(step.loss, list(net.parameters()), step=step)
            assert step.split.pays is pays, (method, pays)
    extra = nn.Parameter(torch.ones((), dtype=torch.float64))
    step = prior_step_loss(model, Prior("xg", "tv", 0.5), x, y, "multiclass")
    assert float(_split_scale(step.loss, step)) == 1.0
    assert float(_split_scale(step.loss * 8.0 / 2, step)) == 4.0
    # A loss with another term: splitting would lose that term's gradient, so one backward.
    assert _split_scale(step.loss + extra ** 2, step) is None
    assert _split_scale(step.loss, None) is None
    params = list(model.parameters()) + [extra]
    backward_to_parameters(step.loss + extra ** 2, params, step=step)
    assert float(extra.grad) == 2.0 and all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("make, size", [
    (lambda: XAlexNet(num_classes=5), 64),
    (lambda: XVGG16(num_classes=5, width=0.125, hidden=32), 32),
    (lambda: XResNet50(num_classes=5, width=0.125), 32)])
def test_attribution_graph_stays_off_the_forward_graph(make, size):
    """X-Gradient's graph on the project's models reaches no forward activation: a penalty's
    backward then never runs a backward of zeros through the forward graph (torch's own ReLU,
    max-pool and adaptive-average-pool backward formulas all lead there)."""
    torch.manual_seed(0)
    model = make()
    acts = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(lambda mod, inp, out: acts.append(out))
    x = torch.randn(2, 3, size, size, requires_grad=True)
    out = model(x)
    attr = get_method("xg")(model, x, torch.tensor([1, 2]), create_graph=True, outputs=out)
    reached = torch.autograd.grad(attr.abs().sum(), [out, *acts], allow_unused=True)
    assert len(acts) >= 8 and all(g is None for g in reached)


def test_piecewise_layers_match_torch_in_value_first_and_second_order():
    """Bit-identical for ReLU and max-pooling; average pooling's gradients agree to float64
    rounding (torch's autograd sums the overlapping windows in another order)."""
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64, requires_grad=True)
    exact = {"rtol": 0, "atol": 0}
    rounding = {"rtol": 1e-12, "atol": 1e-15}
    for ours, theirs, tol in ((ReLU(), nn.ReLU(), exact),
                              (MaxPool2d(3, 2, 1), nn.MaxPool2d(3, 2, 1), exact),
                              (AdaptiveAvgPool2d((4, 5)), nn.AdaptiveAvgPool2d((4, 5)), rounding),
                              (AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d(1), rounding)):
        a, b = ours(x), theirs(x)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        v = torch.randn_like(a)
        (ga,) = torch.autograd.grad(a, x, v, create_graph=True)
        (gb,) = torch.autograd.grad(b, x, v, create_graph=True)
        torch.testing.assert_close(ga, gb, **tol)
        w = torch.randn_like(ga)  # second order w.r.t. the upstream gradient v
        v.requires_grad_(True)
        (ga,) = torch.autograd.grad(ours(x), x, v, create_graph=True)
        (gb,) = torch.autograd.grad(theirs(x), x, v, create_graph=True)
        torch.testing.assert_close(torch.autograd.grad((ga * w).sum(), v)[0],
                                   torch.autograd.grad((gb * w).sum(), v)[0], **tol)


def test_the_project_models_use_the_piecewise_layers():
    relus = [m for m in MLP(4, (3, 3)).modules() if isinstance(m, nn.ReLU)]
    assert relus and all(type(m) is ReLU for m in relus)
