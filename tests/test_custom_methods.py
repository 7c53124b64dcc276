"""Methods as users bring them (a callable, a Captum object) and outputs as models return them."""
from __future__ import annotations

import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

from priors import Prior
from priors.attributions import get_method
from priors.core.outputs import Logits, select_logits
from priors.evaluation import compute_attributions
from priors.evaluation.sanity import model_randomization


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                         nn.Linear(8, 3)).double().eval()


def my_saliency(model, inputs, target, create_graph=False):
    """|gradient| of the target logit (a user's method)."""
    inputs = inputs.detach().requires_grad_(True)
    out = model(inputs).gather(1, target.view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(out, inputs, create_graph=create_graph)
    return grad.abs()


def test_a_captum_object_and_a_callable_go_through_compute_attributions():
    model = _model()
    x, target = torch.rand(10, 6, dtype=torch.float64), torch.randint(0, 3, (10,))
    maps, timings = compute_attributions(
        model, x, {"captum_ig": IntegratedGradients(model), "mine": my_saliency,
                   "ig": {"method": "ig", "n_steps": 200}}, target=target, batch_size=4,
        progress=False)
    assert list(timings["method"]) == ["captum_ig", "mine", "ig"]  # the user's names
    # Captum's IG (Gauss-Legendre, 50 steps) and ours (200 steps) agree on a ReLU MLP.
    torch.testing.assert_close(maps["captum_ig"], maps["ig"], rtol=0, atol=2e-3)
    torch.testing.assert_close(maps["mine"], get_method("grad")(model, x, target).abs())


def test_a_captum_object_and_a_callable_go_through_the_sanity_checks():
    model = _model()
    x, target = torch.rand(8, 6, dtype=torch.float64), torch.randint(0, 3, (8,))
    frame, _ = model_randomization(model, {"captum_ig": IntegratedGradients(model),
                                           "mine": my_saliency}, x, target,
                                   modes=("cascading",), metrics=("spearman",))
    assert set(frame["method"]) == {"captum_ig", "mine"}
    top = frame[(frame.step == 1)]
    # Randomizing the top layer changes both methods' maps (the Captum object is rebuilt for
    # the randomized copy, not left explaining the trained model).
    assert (top["mean"] < 0.99).all(), top


def test_a_differentiable_callable_is_a_training_prior_listed_under_its_name():
    model = _model()
    x, y = torch.rand(5, 6, dtype=torch.float64), torch.randint(0, 3, (5,))
    prior = Prior(my_saliency, "l1", weight=1.0, name="abs_grad")
    assert prior.method == "abs_grad"
    prior(model, x, y).backward()
    assert float(model[0].weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="not differentiable"):
        Prior(IntegratedGradients(model), "l1")
    with pytest.raises(TypeError, match="registered name, a callable"):
        get_method(3.5)


def test_select_logits_rules_and_errors():
    logits = torch.rand(2, 3)
    assert select_logits(logits) is logits
    assert select_logits((logits, torch.rand(2))) is logits
    assert select_logits({"logits": logits, "aux": 1}) is logits
    assert select_logits({"scores": logits}) is logits  # the only tensor
    assert select_logits([torch.rand(2), logits], 1) is logits
    with pytest.raises(ValueError, match="keys \\['a', 'b'\\] and no 'logits'"):
        select_logits({"a": logits, "b": logits})
    with pytest.raises(ValueError, match="output='c' is not among"):
        select_logits({"a": logits}, "c")
    with pytest.raises(ValueError, match="out of range"):
        select_logits((logits,), 2)
    transformers = pytest.importorskip("transformers")
    out = transformers.modeling_outputs.SequenceClassifierOutput(logits=logits)
    assert select_logits(out) is logits
    wrapped = Logits(lambda z: {"hidden": z, "logits": z[:, :3]}, None)
    assert wrapped(torch.rand(4, 6)).shape == (4, 3)
