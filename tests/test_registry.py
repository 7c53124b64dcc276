"""Every registered attribution method gets these tests automatically (torchmetrics' tester
pattern): shape and finiteness, batching, no graph without ``create_graph``, bad inputs and
targets, and for differentiable methods a gradcheck of a penalty w.r.t. the parameters."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from priors import Prior
from priors.attributions import available_methods, get_method, register, resolve_method
from priors.attributions.registry import AttributionMethod
from priors.models import MLP
from priors.penalties import gini_penalty, l1_penalty
from test_attributions import SmallCNN, make_case

# ViT-only methods (requires_vit) are tested on ViTs in tests/test_transformer_attributions.py.
# Text methods (requires_embeddings) are tested on token batches in tests/test_text_attributions.py.
ALL = available_methods(requires_vit=False, requires_embeddings=False)
DIFFERENTIABLE = available_methods(differentiable=True, requires_vit=False,
                                   requires_embeddings=False)
# Cheaper settings for the tests' tiny models; every other hyperparameter keeps its default.
FAST = {"ig": {"n_steps": 4}, "eg": {"k": 2}, "smoothgrad": {"n_samples": 3},
        "smoothgrad_sq": {"n_samples": 3}, "vargrad": {"n_samples": 3}}


def call(name, model, x, target=None, **kwargs):
    spec = get_method(name)
    if spec.stochastic:
        torch.manual_seed(0)  # every evaluation draws the same references / noise
    refs = torch.randn(7, *x.shape[1:], dtype=x.dtype, generator=torch.Generator().manual_seed(1))
    return spec(model, x, target if spec.uses_target else None, references=refs,
                **{**FAST.get(spec.name, {}), **kwargs})


def test_registry_lists_the_core_methods_and_their_needs():
    for name in ("xg", "grad", "rrr", "ig", "eg", "smoothgrad", "smoothgrad_sq", "vargrad"):
        assert name in ALL
    assert get_method("eg").needs_references and get_method("eg").hparams["k"] == 1
    assert get_method("xg").requires_xdnn and get_method("xg").shares_forward
    assert not get_method("rrr").uses_target
    assert resolve_method("expected_gradients") == "eg" and resolve_method("saliency") == "grad"
    assert isinstance(get_method("integrated_gradients"), AttributionMethod)


def test_registering_a_taken_name_fails_and_hparams_are_checked():
    with pytest.raises(ValueError, match="already taken"):
        register("grad")(lambda model, inputs, target=None, create_graph=False: inputs)
    with pytest.raises(TypeError, match="need defaults"):
        register("needs_default")(lambda model, inputs, scale, target=None: inputs)
    with pytest.raises(ValueError, match="no hyperparameter n_stepz.*n_steps=128"):
        get_method("ig").check_hparams({"n_stepz": 3})
    with pytest.raises(ValueError, match="must be an integer"):
        Prior("eg", k=2.5)


@pytest.mark.parametrize("kind", ["mlp_binary", "mlp_multi", "cnn_multi"])
@pytest.mark.parametrize("name", ALL)
def test_shape_finite_and_no_graph(name, kind):
    model, x, target = make_case(kind)
    if get_method(name).requires_conv and kind.startswith("mlp"):
        with pytest.raises(ValueError, match="Conv2d"):  # declared in the registry: refused clearly
            call(name, model, x, target)
        return
    attr = call(name, model, x, target)
    assert attr.shape == x.shape and attr.dtype == x.dtype
    assert torch.isfinite(attr).all()
    assert not attr.requires_grad  # no graph kept without create_graph
    assert not x.requires_grad  # the caller's inputs are untouched


@pytest.mark.parametrize("name", [m for m in ALL if not get_method(m).stochastic])
def test_batch_equals_single_examples(name):
    model, x, target = make_case("cnn_multi", batch=4)
    full = call(name, model, x, target)
    for i in range(len(x)):
        one = call(name, model, x[i:i + 1], target[i:i + 1])
        torch.testing.assert_close(full[i:i + 1], one, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("name", ALL)
def test_non_finite_inputs_rejected(name, bad):
    model, x, _ = make_case("cnn_binary" if get_method(name).requires_conv else "mlp_binary")
    x.view(len(x), -1)[2, 1] = bad
    with pytest.raises(ValueError, match="non-finite"):
        call(name, model, x)


@pytest.mark.parametrize("name", ALL)
def test_unbatched_input_rejected(name):
    model, x, _ = make_case("cnn_binary" if get_method(name).requires_conv else "mlp_binary")
    with pytest.raises(ValueError, match=r"batched|\(B, C, H, W\)"):
        call(name, model, x[0])


@pytest.mark.parametrize("name", [m for m in ALL if get_method(m).uses_target])
def test_target_errors(name):
    # 6 examples, 3 classes
    model, x, _ = make_case("cnn_multi" if get_method(name).requires_conv else "mlp_multi")
    with pytest.raises(ValueError, match="target"):
        call(name, model, x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="target"):
        call(name, model, x, torch.zeros(6, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="3 outputs"):
        call(name, model, x, None)
    with pytest.raises(ValueError, match="out of range"):
        call(name, model, x, 3)


def _penalty_of_params(model, name, penalty, x, target):
    names = [n for n, _ in model.named_parameters()]

    def f(*params):
        fmodel = lambda inp: functional_call(model, dict(zip(names, params)), (inp,))  # noqa: E731
        return penalty(call(name, fmodel, x, target, create_graph=True))

    params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    return f, params


@pytest.mark.parametrize("penalty", [gini_penalty, l1_penalty], ids=["gini", "l1"])
@pytest.mark.parametrize("out", [1, 3], ids=["binary", "multiclass"])
@pytest.mark.parametrize("name", [m for m in DIFFERENTIABLE if not get_method(m).requires_conv])
def test_penalty_gradient_wrt_parameters(name, out, penalty):
    torch.manual_seed(5)
    # A smooth network: finite differences are exact enough, and XG is defined on any model.
    model = nn.Sequential(nn.Linear(4, 5), nn.Softplus(), nn.Linear(5, out)).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    target = None if out == 1 else torch.tensor([0, 2, 1])
    f, params = _penalty_of_params(model, name, penalty, x, target)
    # The output bias cannot change input gradients: allow unused parameters.
    grads = torch.autograd.grad(f(*params), params, allow_unused=True, materialize_grads=True)
    assert sum(float(g.norm()) for g in grads) > 1e-4, "penalty gradient vanished"
    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_x_gradient_penalty_gradcheck_on_relu_xmlp():
    torch.manual_seed(6)
    model = MLP(4, hidden=(5, 5), bias=False).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    # A finite-difference step of 1e-6 must not flip any ReLU: keep pre-activations well away.
    h = x.clone()
    for layer in model.net:
        h = layer(h).detach()
        if isinstance(layer, nn.Linear) and layer is not model.net[-1]:
            assert float(h.abs().min()) > 1e-3
    f, params = _penalty_of_params(model, "xg", gini_penalty, x, None)
    grads = torch.autograd.grad(f(*params), params)
    assert sum(float(g.norm()) for g in grads) > 1e-4
    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_every_differentiable_method_trains_as_a_prior(name):
    """Prior(name) runs its forward piece and its penalty piece on a CNN, and the weighted
    penalty back-propagates to the parameters."""
    torch.manual_seed(0)
    model = SmallCNN(3).double()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    prior = Prior(name, "l1", weight=0.5, check_homogeneity=False, **FAST.get(name, {}))
    torch.manual_seed(0)
    out = prior.compute(model, x, y, references=torch.randn(5, 1, 8, 8, dtype=torch.float64))
    assert out.outputs.shape == (4, 3) and out.attributions.shape == x.shape
    grads = torch.autograd.grad(out.weighted, list(model.parameters()), allow_unused=True,
                                materialize_grads=True)
    assert sum(float(g.abs().sum()) for g in grads) > 0
