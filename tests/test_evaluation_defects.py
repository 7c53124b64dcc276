"""Four numeric defects of the evaluation, each checked against a trusted reference (sklearn,
exact arithmetic, Captum). Each test failed before its fix (see issue 23's closing note)."""
import re

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from priors import PriorModule
import importlib

ig_module = importlib.import_module("priors.attributions.integrated_gradients")
from priors.evaluation import completeness, rank_features, task_score
from priors.models import MLP


def test_task_score_auroc_ranks_logits_not_float32_sigmoid():
    # float32 sigmoid rounds to 1.0 above ~16.6: 18, 20, 25, 30 would all tie.
    logits = torch.tensor([18.0, 20.0, 25.0, -3.0, 30.0])
    y = torch.tensor([0, 1, 1, 0, 1])
    expected = roc_auc_score(y.numpy(), logits.double().numpy())
    assert expected == 1.0
    assert abs(task_score(logits, y, "binary") - expected) < 1e-12


def test_module_auroc_ranks_logits():
    module = PriorModule(MLP(2, [4], 1), task="binary")
    scores, labels = module._scores_labels(torch.tensor([18.0, 20.0, 25.0, -3.0, 30.0]),
                                           torch.tensor([0, 1, 1, 0, 1]))
    metric = module.metrics["val"]
    metric.update(scores, labels)
    values = metric.compute()
    auroc = float(values["val/auroc"])
    assert abs(auroc - 1.0) < 1e-12, auroc
    assert abs(float(values["val/acc"]) - 0.8) < 1e-6  # the 0.5 threshold: still logit 0


def test_completeness_in_float64():
    torch.manual_seed(0)
    model = torch.nn.Linear(20, 1).double()
    with torch.no_grad():
        model.weight.uniform_(20.0, 40.0)
        model.bias.fill_(1234.567)
    x = torch.rand(8, 20, dtype=torch.float64) * 40  # outputs ~1.2e4
    frame = completeness(model, x, {"ig": {"method": "ig", "n_steps": 4}})
    assert float(frame["mean_abs_delta"].iloc[0]) > 1e4
    # IG is exact on a linear model: the only error is float64 rounding.
    assert float(frame["max_abs_error"].iloc[0]) < 1e-8, frame


def test_rank_features_keeps_float64_resolution():
    attr = torch.tensor([[1.0, 1.0 + 1e-9, 0.5]], dtype=torch.float64)
    for seed in range(8):  # with a float32 cast the two would tie and the seed would decide
        order, _ = rank_features(attr, "positive", pixel_level=False, tie_seed=seed)
        assert order[0].tolist() == [1, 0, 2], (seed, order)


def test_ig_docstring_on_captum_trapezoid():
    from captum.attr._utils.approximation_methods import approximation_parameters

    n = 8
    steps, alphas = approximation_parameters("riemann_trapezoid")
    assert abs(sum(steps(n)) - (n - 1) / n) < 1e-12  # Captum's weights sum to (n-1)/n
    _, ours = ig_module.quadrature(n, "riemann_trapezoid")
    assert abs(ours.sum() - 1.0) < 1e-12
    for rule in ("riemann_left", "riemann_right", "riemann_middle", "gausslegendre"):
        s, a = approximation_parameters(rule)
        nodes, weights = ig_module.quadrature(n, rule)
        np.testing.assert_allclose(nodes, a(n), atol=1e-7)
        np.testing.assert_allclose(weights, s(n), atol=1e-7)
    doc = " ".join(ig_module.integrated_gradients.__doc__.split())
    assert "same nodes and weights as Captum's rules)" not in doc
    assert re.search(r"\(n ?- ?1\) ?/ ?n", doc), "the docstring must state Captum's trapezoid sum"
