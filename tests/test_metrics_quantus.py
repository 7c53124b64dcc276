"""Every metric Quantus also has, compared with Quantus 0.6 on the same model, inputs and
attributions, with the conventions set equal (Quantus' normalisation off, ``abs`` as our
definition, the same perturbation baseline, the same random subsets). Tolerances are explicit;
where they are not ~1e-12 the reason is stated."""
import numpy as np
import pytest
import torch

from metrics_setup import digits_setup
from priors.evaluation import get_metric
from priors.evaluation.metrics.faithfulness.imputation import linear_imputation
from priors.evaluation.metrics.faithfulness.pixel_flipping import pixel_flipping_curve
from priors.evaluation.metrics.faithfulness.road import road_curve

quantus = pytest.importorskip("quantus")


def _np(t):
    return t.detach().cpu().numpy()


def _quantus(metric, model, x, y, a, s=None, **call):
    out = metric(model=model, x_batch=_np(x), y_batch=_np(y), a_batch=_np(a).astype(np.float64),
                 s_batch=None if s is None else _np(s).astype(float), device="cpu", **call)
    return np.asarray(out, dtype=float)


def _ours(name, model, x, y, a, **context):
    return _np(get_metric(name)(model=model, x=x, attributions=a, target=y, **context))


# (our name, Quantus class and arguments, attributions transform, tolerance)
LOCALISATION = [
    # Our RMA counts positive relevance only (Arras et al.); Quantus uses a as given: equal on
    # the positive part.
    ("relevance_mass_accuracy", lambda: quantus.RelevanceMassAccuracy(
        abs=False, normalise=False, disable_warnings=True), "positive", 1e-12),
    ("relevance_rank_accuracy", lambda: quantus.RelevanceRankAccuracy(
        abs=False, normalise=False, disable_warnings=True), "signed", 1e-12),
    ("pointing_game", lambda: quantus.PointingGame(
        abs=False, normalise=False, disable_warnings=True), "signed", 0.0),
    # Quantus adds 1e-9 to the denominator: relative 1e-9 of a total ~1.
    ("attribution_localisation", lambda: quantus.AttributionLocalisation(
        abs=False, normalise=False, positive_attributions=True, disable_warnings=True),
     "signed", 1e-7),
]


@pytest.mark.parametrize("name,make,transform,tol", LOCALISATION, ids=[c[0] for c in LOCALISATION])
def test_localisation_equals_quantus(name, make, transform, tol):
    model, x, y, a, masks = digits_setup()
    a = a.clamp_min(0) if transform == "positive" else a
    ours = _ours(name, model, x, y, a, masks=masks)
    theirs = _quantus(make(), model, x, y, a, masks)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol)


COMPLEXITY = [
    # Quantus shifts every value by 1e-7 before the Gini index (1.7e-5 here on maps with many
    # zeros): the same shift is applied to our input; what remains (3e-9) is below float32
    # resolution, i.e. Quantus' preprocessing rounding.
    ("sparseness", lambda: quantus.Sparseness(abs=True, normalise=False,
                                              disable_warnings=True), 1e-8),
    # Quantus adds 1e-12 inside the log: ~F * 1e-12 / F.
    ("complexity", lambda: quantus.Complexity(abs=True, normalise=False,
                                              disable_warnings=True), 1e-9),
    ("effective_complexity", lambda: quantus.EffectiveComplexity(
        abs=True, normalise=False, eps=1e-5, disable_warnings=True), 0.0),
]


@pytest.mark.parametrize("name,make,tol", COMPLEXITY, ids=[c[0] for c in COMPLEXITY])
def test_complexity_equals_quantus(name, make, tol):
    model, x, y, a, _ = digits_setup()
    ours = _ours(name, model, x, y, a.abs() + 1e-7 if name == "sparseness" else a)
    theirs = _quantus(make(), model, x, y, a)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol)


def test_pixel_flipping_equals_quantus():
    model, x, y, a, _ = digits_setup()
    theirs = _quantus(quantus.PixelFlipping(features_in_step=16, abs=False, normalise=False,
                                            perturb_baseline=0.0, disable_warnings=True),
                      model, x, y, a, softmax=True)  # (N, K) curves of softmax probabilities
    curve = _np(pixel_flipping_curve(model, x, a, y, fill=0.0, features_in_step=16,
                                     output="probability")).T
    # float32 forward passes of the same inputs, batched differently: 1e-6.
    np.testing.assert_allclose(curve, theirs, rtol=0, atol=1e-6)
    score = _ours("pixel_flipping", model, x, y, a, fill=0.0, features_in_step=16)
    np.testing.assert_allclose(score, np.trapezoid(theirs, axis=1) / theirs.shape[1], atol=1e-6)


def test_faithfulness_correlation_equals_quantus():
    model, x, y, a, _ = digits_setup()
    n, d, runs, size = x.shape[0], x[0].numel(), 20, 32
    np.random.seed(7)  # the subsets Quantus will draw, in its order (run-major, then example)
    subsets = np.stack([np.stack([np.random.choice(d, size, replace=False) for _ in range(n)])
                        for _ in range(runs)])
    np.random.seed(7)
    theirs = _quantus(quantus.FaithfulnessCorrelation(
        nr_runs=runs, subset_size=size, abs=False, normalise=False, perturb_baseline=0.0,
        return_aggregate=False, disable_warnings=True), model, x, y, a, softmax=False)
    ours = _ours("faithfulness_correlation", model, x, y, a, fill=0.0, nr_runs=runs,
                 subset_size=size, subsets=torch.as_tensor(subsets))
    # Pearson of float32 logit differences: 1e-6.
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_linear_imputation_equals_quantus():
    from quantus.functions.perturb_func import noisy_linear_imputation

    _, x, _, a, _ = digits_setup()
    gen = torch.Generator().manual_seed(0)
    removed = torch.rand(4, 16, 16, generator=gen) < 0.5
    ours = linear_imputation(x[:4].double(), removed)
    for i in range(4):
        idx = np.flatnonzero(_np(removed[i]).reshape(-1))
        theirs = noisy_linear_imputation(_np(x[i]).astype(np.float64), idx, noise=0.0)
        # Our CG stops at a relative residual of 1e-10; spsolve is direct.
        np.testing.assert_allclose(_np(ours[i]), theirs, rtol=0, atol=1e-8)


def test_road_equals_quantus():
    model, x, y, a, _ = digits_setup()
    percentages = [10, 30, 50, 70, 90]
    metric = quantus.ROAD(percentages=percentages, noise=0.0, abs=False, normalise=False,
                          disable_warnings=True, return_aggregate=False)
    metric(model=model, x_batch=_np(x), y_batch=_np(y), a_batch=_np(a).copy(), device="cpu")
    theirs = np.array([metric.evaluation_scores[p] for p in percentages])
    ours = _np(road_curve(model, x, a, y, [p / 100 for p in percentages], "morf", noise=0.0))
    np.testing.assert_allclose(ours.mean(1), theirs, rtol=0, atol=0)  # accuracies: exact


def _explain_grad(model, inputs, targets, **kwargs):
    from priors.attributions import attribute

    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
    t = torch.as_tensor(np.asarray(targets)).long()
    return _np(attribute("grad", model, x, t) * x).astype(np.float64)


class _SameNoise:
    """A Quantus perturb_func that adds, call by call, the very draws our sampler makes
    (uniform in [-r, r], float64 cast to the input dtype, one batch per sample)."""

    def __init__(self, shape, radius, seed, kind="uniform"):
        self.gen = torch.Generator().manual_seed(seed)
        self.shape, self.radius, self.kind = shape, radius, kind

    def __call__(self, arr, indices=None, **kwargs):
        if self.kind == "uniform":
            d = (torch.rand(self.shape, generator=self.gen, dtype=torch.float64) * 2 - 1) * self.radius
        else:
            d = torch.randn(self.shape, generator=self.gen, dtype=torch.float64) * self.radius
        return arr + _np(d.float()).reshape(arr.shape)


@pytest.mark.parametrize("name,cls", [("max_sensitivity", "MaxSensitivity"),
                                      ("avg_sensitivity", "AvgSensitivity")])
def test_sensitivity_equals_quantus(name, cls):
    from priors.evaluation.metrics.robustness.sensitivity import _ratios  # noqa: F401

    model, x, y, a, _ = digits_setup()
    x, y = x[:8], y[:8]
    a = torch.as_tensor(_explain_grad(model, x, y))
    metric = getattr(quantus, cls)(nr_samples=5, lower_bound=0.1, abs=False, normalise=False,
                                   perturb_func=_SameNoise(x.shape, 0.1, 3),
                                   return_nan_when_prediction_changes=False,
                                   disable_warnings=True)
    theirs = np.asarray(metric(model=model, x_batch=_np(x), y_batch=_np(y), a_batch=_np(a),
                               device="cpu", explain_func=_explain_grad), dtype=float)
    ours = _ours(name, model, x, y, a, explain=lambda m, xx, t: torch.as_tensor(
        _explain_grad(m, xx, t)), n_samples=5, radius=0.1, seed=3)
    # Same draws and attributions; differences: float64 norms in both, 1e-10.
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_local_lipschitz_equals_quantus():
    model, x, y, a, _ = digits_setup()
    x, y = x[:8], y[:8]
    a = torch.as_tensor(_explain_grad(model, x, y))
    metric = quantus.LocalLipschitzEstimate(
        nr_samples=5, perturb_std=0.1, perturb_mean=0.0, abs=False, normalise=False,
        perturb_func=_SameNoise(x.shape, 0.1, 4, kind="gaussian"),
        return_nan_when_prediction_changes=False, disable_warnings=True)
    theirs = np.asarray(metric(model=model, x_batch=_np(x), y_batch=_np(y), a_batch=_np(a),
                               device="cpu", explain_func=_explain_grad), dtype=float)
    ours = _ours("local_lipschitz", model, x, y, a, explain=lambda m, xx, t: torch.as_tensor(
        _explain_grad(m, xx, t)), n_samples=5, std=0.1, seed=4)
    # ||x - x'|| of float32 inputs: relative 1e-6.
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)
