"""Known answers of the registered metrics (where Quantus has no equivalent, or as a second
check), the functional API, bad-input errors and registry-wide properties."""
import math
import re

import pandas as pd
import pytest
import torch
from torch import nn

from metrics_setup import digits_setup
from priors.evaluation import available_metrics, evaluate, get_metric, metric_table
from priors.evaluation.metrics.faithfulness.imputation import linear_imputation
from priors.evaluation.metrics.registry import FAMILIES, KINDS, NEEDS


def _m(name, **context):
    return get_metric(name)(**context)


# ------------------------------------------------------------------ localisation / complexity
def test_localisation_known_answers():
    x = torch.rand(2, 1, 4, 4)
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    masks[:, :2, :2] = True
    a = torch.full((2, 1, 4, 4), -1.0)  # negative relevance outside: ignored by RMA
    a[:, 0, :2, :2] = torch.tensor([[4.0, 3.0], [2.0, 1.0]])
    ctx = dict(x=x, attributions=a, masks=masks)
    assert torch.allclose(_m("relevance_mass_accuracy", **ctx), torch.ones(2, dtype=torch.double))
    assert torch.allclose(_m("relevance_rank_accuracy", **ctx), torch.ones(2, dtype=torch.double))
    assert _m("pointing_game", **ctx).tolist() == [1.0, 1.0]
    assert torch.allclose(_m("attribution_localisation", **ctx, weighted=True),
                          torch.full((2,), 4.0, dtype=torch.double))  # mu = 1, S_tot/S_in = 4
    # energy: min-max scaled (-1 -> 0), so only the mask holds energy.
    assert torch.allclose(_m("energy_pointing_game", **ctx), torch.ones(2, dtype=torch.double))
    moved = a.clone()
    moved[0, 0, 3, 3] = 10.0  # the maximum outside the mask: a miss; mass 10/20 outside
    ctx["attributions"] = moved
    assert _m("pointing_game", **ctx).tolist() == [0.0, 1.0]
    assert abs(float(_m("relevance_mass_accuracy", **ctx)[0]) - 0.5) < 1e-12
    assert abs(float(_m("relevance_rank_accuracy", **ctx)[0]) - 0.75) < 1e-12


def test_complexity_known_answers():
    f = 64
    uniform, one_hot = torch.ones(1, f), torch.zeros(1, f)
    one_hot[0, 5] = -3.0
    assert abs(float(_m("sparseness", attributions=uniform))) < 1e-12
    assert abs(float(_m("sparseness", attributions=one_hot)) - (1 - 1 / f)) < 1e-12
    assert abs(float(_m("complexity", attributions=uniform)) - math.log(f)) < 1e-12
    assert abs(float(_m("complexity", attributions=one_hot))) < 1e-12
    assert float(_m("effective_complexity", attributions=one_hot)) == 1.0


# ------------------------------------------------------------------ faithfulness
def _linear_problem(n=64, d=20, relevant=5):
    torch.manual_seed(0)
    w = torch.zeros(d, dtype=torch.float64)
    w[:relevant] = torch.linspace(1, 3, relevant, dtype=torch.float64)
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w.view(1, -1))
    x = torch.rand(n, d, dtype=torch.float64) + 0.5
    return model, x, w


def test_insertion_deletion_true_attribution_beats_random():
    model, x, w = _linear_problem()
    true = x * w  # the exact contribution of every feature
    rand = torch.rand(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ctx = dict(model=model, x=x, target=None, fill=0.0, output="logit", n_steps=20)
    ins_true, ins_rand = (_m("insertion", attributions=a, **ctx).mean() for a in (true, rand))
    del_true, del_rand = (_m("deletion", attributions=a, **ctx).mean() for a in (true, rand))
    assert ins_true > ins_rand + 0.5
    assert del_true < del_rand - 0.5


def test_faithfulness_correlation_and_infidelity_exact_on_linear_model():
    model, x, w = _linear_problem()
    true = x * w
    corr = _m("faithfulness_correlation", model=model, x=x, attributions=true, fill=0.0,
              target=None, nr_runs=30, subset_size=5)
    assert torch.allclose(corr, torch.ones_like(corr), atol=1e-12)  # drop == attribution sum
    grad = w.expand_as(x).clone()
    infd = _m("infidelity", model=model, x=x, attributions=grad, target=None, n_samples=16)
    assert float(infd.max()) < 1e-20
    noisy = grad + torch.randn_like(grad)
    assert float(_m("infidelity", model=model, x=x, attributions=noisy, target=None,
                    n_samples=16).mean()) > 1e-3


def test_linear_imputation_reproduces_a_constant_and_a_ramp():
    # A harmonic function of the 8-neighbour stencil (constant, a plane) is imputed exactly.
    h = w = 12
    ii, jj = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    plane = (0.3 + 0.02 * ii + 0.05 * jj).double().view(1, 1, h, w)
    removed = torch.zeros(1, h, w, dtype=torch.bool)
    removed[0, 3:9, 2:10] = True
    out = linear_imputation(plane, removed)
    assert torch.allclose(out, plane, atol=1e-9)


def test_road_morf_below_lerf_for_gradient_x_input():
    model, x, y, a, _ = digits_setup()
    morf = _m("road_morf", model=model, x=x, attributions=a, target=y).mean()
    lerf = _m("road_lerf", model=model, x=x, attributions=a, target=y).mean()
    assert morf < lerf


# ------------------------------------------------------------------ robustness / axiomatic
def _grad(model, x, t):
    from priors.attributions import attribute
    return attribute("grad", model, x, t)


def _grad_x_input(model, x, t):
    return _grad(model, x, t) * x


def test_robustness_of_gradient_on_linear_model():
    model, x, w = _linear_problem()
    g = _grad(model, x, None)
    ctx = dict(model=model, x=x, target=None, n_samples=4)
    assert float(_m("max_sensitivity", attributions=g, explain=_grad, **ctx).max()) < 1e-12
    assert float(_m("avg_sensitivity", attributions=g, explain=_grad, **ctx).max()) < 1e-12
    gx = g * x
    lle = _m("local_lipschitz", attributions=gx, explain=_grad_x_input, **ctx)
    # |w * delta| / |delta| lies in (0, max |w|].
    assert float(lle.min()) > 0 and float(lle.max()) <= float(w.abs().max()) + 1e-12


def test_axiomatic_known_answers():
    model, x, w = _linear_problem()
    gx = _grad_x_input(model, x, None)
    # Features 5.. have zero weight and zero attribution: attribution and model agree.
    ns = _m("non_sensitivity", model=model, x=x, attributions=gx, fill=0.0, target=None)
    assert float(ns.max()) == 0.0
    wrong = gx.clone()
    wrong[:, 0] = 0.0  # a feature that matters, given no attribution
    assert _m("non_sensitivity", model=model, x=x, attributions=wrong, fill=0.0,
              target=None).tolist() == [1.0] * len(x)
    g = _grad(model, x, None)
    ii = _m("input_invariance", model=model, x=x, attributions=g, explain=_grad, target=None)
    assert float(ii.max()) < 1e-12  # gradients ignore the shift
    ii_x = _m("input_invariance", model=model, x=x, attributions=gx, explain=_grad_x_input,
              target=None)
    assert float(ii_x.min()) > 0.1  # gradient x input does not (Kindermans et al.)


def test_randomisation_known_answers():
    model, x, y, a, _ = digits_setup()
    ctx = dict(model=model, x=x[:8], target=y[:8])

    def input_map(model, x, t):  # ignores model and class
        return x.clone()

    same = _m("random_logit", attributions=x[:8].clone(), explain=input_map,
              similarity="spearman", **ctx)
    assert torch.allclose(same, torch.ones_like(same))
    g = _grad(model, x[:8], y[:8])
    assert float(_m("random_logit", attributions=g, explain=_grad, similarity="spearman",
                    **ctx).mean()) < 0.9
    assert torch.allclose(_m("mprt", attributions=x[:8].clone(), explain=input_map, **ctx),
                          torch.ones(8, dtype=torch.double))
    assert float(_m("mprt", attributions=g, explain=_grad, summary="last", **ctx).mean()) < 0.5


def test_mprt_randomizes_norm_layers():
    from priors.evaluation.randomize import parameter_layers, randomized_models

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 3),
                          nn.BatchNorm1d(3)).eval()
    with torch.no_grad():
        model[1].weight.mul_(3.0)
        model[4].running_mean.fill_(2.0)
    names = [n for n, _ in parameter_layers(model)]
    assert names == ["0", "1", "3", "4"]
    *_, (_, last) = randomized_models(model, "cascading")
    assert not torch.equal(last[1].weight, model[1].weight)
    assert not torch.equal(last[4].running_mean, model[4].running_mean)


# ------------------------------------------------------------------ functional API
def test_evaluate_functional_api():
    model, x, y, _, masks = digits_setup()

    def my_callable(model, x, target):
        return _grad(model, x, target) * x

    frame = evaluate(model, x[:8], y[:8], methods=[{"method": "ig", "n_steps": 8}, my_callable],
                     metrics=["road_morf", "relevance_mass_accuracy", "max_sensitivity"],
                     masks=masks[:8])
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 6 and set(frame["method"]) == {"ig", "my_callable"}
    assert frame["value"].notna().all()
    road = frame[frame["metric"] == "road_morf"]
    assert (road["direction"] == "lower").all() and not road["higher_is_better"].any()
    rma = frame[frame["metric"] == "relevance_mass_accuracy"]
    assert (rma["direction"] == "higher").all() and rma["value"].between(0, 1).all()


def test_evaluate_torchvision_model_and_precomputed():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=3).eval()
    x = torch.rand(4, 3, 32, 32)
    masks = torch.zeros(4, 32, 32, dtype=torch.bool)
    masks[:, 8:24, 8:24] = True
    pre = torch.rand(4, 3, 32, 32)
    frame = evaluate(model, x, None, methods={"grad": "grad", "pre": pre},
                     metrics=["road_morf", "relevance_mass_accuracy", "sparseness"],
                     masks=masks)
    assert len(frame) == 6 and frame["value"].notna().all()
    with pytest.raises(ValueError, match="needs the attribution method itself"):
        evaluate(model, x, None, methods={"pre": pre}, metrics=["max_sensitivity"])


def test_evaluate_loader():
    from torch.utils.data import DataLoader, TensorDataset
    from priors.evaluation import evaluate_loader

    model, x, y, _, masks = digits_setup()
    loader = DataLoader(TensorDataset(x, y, masks), batch_size=8)
    frame = evaluate_loader(model, loader, methods=["grad"],
                            metrics=["pointing_game", "kam"], max_examples=16)
    assert set(frame["metric"]) == {"pointing_game", "kam"}
    assert (frame["n"] == 16).all()


# ------------------------------------------------------------------ bad input
def test_bad_inputs_give_clear_errors():
    model, x, y, a, masks = digits_setup()
    x, y, a, masks = x[:4], y[:4], a[:4], masks[:4]
    with pytest.raises(ValueError, match=r"masks of shape \(4, 8, 8\) do not fit"):
        evaluate(model, x, y, methods=["grad"], metrics=["pointing_game"],
                 masks=torch.ones(4, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="needs annotation masks"):
        evaluate(model, x, y, methods=["grad"], metrics=["relevance_mass_accuracy"])
    with pytest.raises(ValueError, match=r"fractions in \[0, 1\]"):
        evaluate(model, x, y, methods=["grad"], metrics={"road_morf": {"fractions": [0.5, 1.2]}})
    with pytest.raises(ValueError, match=r"fractions in \[0, 1\]"):
        evaluate(model, x, y, methods=["grad"], metrics={"kpm": {"fractions": [-0.1, 0.5]}})

    def wrong_shape(model, x, target):
        return x.flatten(1)

    with pytest.raises(ValueError, match=r"attributions of shape \(4, 256\)"):
        evaluate(model, x, y, methods=[wrong_shape], metrics=["sparseness"])
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        evaluate(model, x, y, methods=["grad"], metrics=["nope"])
    with pytest.raises(ValueError, match="has no hyperparameter n_steps"):
        evaluate(model, x, y, methods=["grad"], metrics={"sparseness": {"n_steps": 3}})
    with pytest.raises(ValueError, match="evaluate_run"):
        evaluate(model, x, y, methods=["grad"], metrics=["roar"])


# ------------------------------------------------------------------ registry
def test_registry_entries_are_complete():
    names = available_metrics()
    assert len(names) >= 30
    for name in names:
        m = get_metric(name)
        assert m.family in FAMILIES and m.kind in KINDS and set(m.needs) <= set(NEEDS)
        assert m.direction in ("higher", "lower")
        doc = m.fn.__doc__ or ""
        assert re.search(r"(19|20)\d\d", doc), f"{name}: the docstring must cite its paper"
    table = metric_table()
    assert list(table["metric"]).count("road_morf") == 1
    assert set(table["family"]) == set(FAMILIES)
    assert get_metric("rma").name == "relevance_mass_accuracy"
    assert "masks" in get_metric("pointing_game").needs
    assert "explain" in get_metric("max_sensitivity").needs
    assert "retraining" in get_metric("roar").needs
