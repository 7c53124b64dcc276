"""A complete method's attributions carry the task loss's gradient on single-logit X-DNNs
(issue 13, ``priors.step._outputs_through_attributions``): same gradients as the
straightforward step (float64, within 1e-6 relative), same loss value bit for bit, and the
shortcut only where the completeness identity is verified."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from priors import Prior
from priors.attributions import available_methods, get_method
from priors.data import NHANESDataModule
from priors.models import MLP
from priors.step import _outputs_through_attributions, backward_to_parameters, prior_step_loss
from priors.task import task_loss
from test_attributions import SmallCNN

COMPLETE = available_methods(complete=True)


@pytest.fixture(scope="module")
def nhanes_batch(nhanes_dir):
    dm = NHANESDataModule(data_dir=nhanes_dir, split="small_data", n_train=64, n_val=64, seed=0)
    dm.setup("fit")
    x, y = dm.train_dataset.tensors
    assert 0 < float(y.mean()) < 1  # both classes, so the task gradient is not degenerate
    return x.double(), y.double()


def x_mlp(in_features, bias=False, dropout=0.0):
    torch.manual_seed(0)
    return MLP(in_features, hidden=(32, 16), bias=bias, dropout=dropout).double().train()


def straightforward(model, prior, x, y, task="binary"):
    """Task loss on the model's outputs plus the weighted penalty, one full backward."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)  # same dropout masks as the optimized step
    xin = x.detach().requires_grad_()
    outputs = model(xin)
    out = prior.penalize(model, xin, outputs, y)
    loss = task_loss(outputs, y, task) + out.weighted
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def optimized(model, prior, x, y, task="binary"):
    """The step's loss, gradients, and whether its task loss reaches the forward graph (the
    first ReLU's output)."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)
    seen = []
    relu = next(m for m in model.modules() if isinstance(m, nn.ReLU))
    handle = relu.register_forward_hook(lambda m, i, o: seen.append(o))
    step = prior_step_loss(model, prior, x, y, task)
    handle.remove()
    (reach,) = torch.autograd.grad(step.task_loss, seen[0], retain_graph=True, allow_unused=True)
    backward_to_parameters(step.loss, list(model.parameters()), step=step)
    return step, [p.grad.clone() for p in model.parameters()], reach is not None


@pytest.mark.parametrize("name", COMPLETE)
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_complete_methods_attributions_sum_to_the_output_on_x_dnns(name, arch):
    torch.manual_seed(0)
    if arch == "mlp":
        model, x = x_mlp(7).eval(), torch.randn(9, 7, dtype=torch.float64)
    else:
        model, x = SmallCNN(1, bias=False).double().eval(), torch.randn(9, 1, 8, 8).double()
    outputs = model(x).reshape(-1)
    attributions = get_method(name)(model, x, None)
    assert float(outputs.detach().abs().min()) > 1e-6  # a sum of zeros would prove nothing
    torch.testing.assert_close(attributions.flatten(1).sum(1), outputs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("penalty", ["gini", "l1"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_xg_step_on_a_binary_x_mlp_equals_the_straightforward_step(nhanes_batch, penalty,
                                                                    dropout):
    x, y = nhanes_batch
    model = x_mlp(x.shape[1], dropout=dropout)
    prior = Prior("xg", penalty, weight=0.7)
    expected_loss, expected = straightforward(model, prior, x, y)
    step, got, reaches_forward = optimized(model, prior, x, y)
    assert not reaches_forward  # used: the task loss's gradient skips the forward graph ...
    # ... and nothing changed: the loss bit for bit, the gradients to float64 rounding.
    assert torch.equal(step.loss.detach(), expected_loss)
    assert sum(float(g.abs().sum()) for g in expected) > 0
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-12)


def test_the_outputs_keep_their_value_bit_for_bit(nhanes_batch):
    """float32, where the attributions' sum differs from the output in the last bits."""
    x, y = nhanes_batch
    model = x_mlp(x.shape[1]).float()
    prior = Prior("xg", "gini", weight=0.7)
    step, _, reaches_forward = optimized(model, prior, x.float(), y.float())
    assert not reaches_forward
    outputs, sums = step.prior.outputs, step.prior.attributions.flatten(1).sum(1)
    assert not torch.equal(sums, outputs)  # else this test could not tell
    assert torch.equal(_outputs_through_attributions(prior, model, step.prior, "binary"), outputs)
    assert torch.equal(step.task_loss, task_loss(outputs, y.float(), "binary"))


def test_task_gradient_through_attributions_is_that_of_the_task_loss(nhanes_batch):
    """The task part alone (weight 0): its gradient is the task loss's, not the penalty's."""
    x, y = nhanes_batch
    model = x_mlp(x.shape[1])
    _, got, reaches_forward = optimized(model, Prior("xg", "l1", weight=0.0), x, y)
    assert not reaches_forward
    model.zero_grad(set_to_none=True)
    task_loss(model(x), y, "binary").backward()
    for p, g in zip(model.parameters(), got):
        torch.testing.assert_close(g, p.grad, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("case", ["multiclass", "unverified", "not_complete", "biased"])
def test_the_shortcut_is_not_used_where_the_identity_is_not_known(nhanes_batch, case):
    x, y = nhanes_batch
    task, method, kwargs, model = "binary", "xg", {}, x_mlp(x.shape[1])
    if case == "multiclass":  # the loss needs both logits, the attributions explain one
        torch.manual_seed(0)
        model = MLP(x.shape[1], hidden=(32, 16), out_features=2, bias=False).double()
        task = "multiclass"
    elif case == "unverified":
        kwargs = {"check_homogeneity": False}
    elif case == "not_complete":
        method = "ixg"
    else:  # biases: f(x) != sum of x * grad, homogeneity vouched for but false
        model, kwargs = x_mlp(x.shape[1], bias=True), {"check_homogeneity": False}
    prior = Prior(method, "l1", weight=0.5, **kwargs)
    _, expected = straightforward(model, prior, x, y, task)
    _, got, reaches_forward = optimized(model, prior, x, y, task)
    assert reaches_forward
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-12)
