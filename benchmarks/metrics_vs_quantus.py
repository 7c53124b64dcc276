"""The project's metrics vs Quantus' on the same CPU, model, inputs and attributions.

256 scikit-learn digits upsampled to 1x28x28, a SmallCNN (trained one short epoch), gradient
attributions (no ties, so both libraries rank alike; gradient x input ties on the zero
background, where Quantus' unstable argsort and our index order remove different pixels); every metric both libraries have, with the conventions set equal (as in
tests/test_metrics_quantus.py: normalisation off, the same baseline, the same random subsets /
noise draws). Per metric: the median wall time of ``--reps`` interleaved calls of each library
in this one process, their ratio, and the largest absolute difference of the values::

    OMP_NUM_THREADS=1 python benchmarks/metrics_vs_quantus.py --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

import quantus  # noqa: E402

from priors.attributions import attribute  # noqa: E402
from priors.data.decoy_digits import load_upsampled_digits  # noqa: E402
from priors.evaluation import get_metric  # noqa: E402
from priors.evaluation.metrics.faithfulness.pixel_flipping import pixel_flipping_curve  # noqa
from priors.evaluation.metrics.faithfulness.road import road_curve  # noqa: E402
from priors.models.small_cnn import SmallCNN  # noqa: E402


def setup(n: int):
    torch.manual_seed(0)
    x, y = load_upsampled_digits(28)
    model = SmallCNN(1, 10, 28)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for i in range(0, 1024, 64):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64]).backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    xs, ys = x[1024:1024 + n].clone(), y[1024:1024 + n].clone()
    return model, xs, ys, grad_x_input(model, xs, ys), xs > 0.3


def grad_x_input(model, x, t):
    """The benchmark's attribution (the name kept for the call sites): the plain gradient."""
    return attribute("grad", model, x, t).detach()


def np_(t):
    return t.detach().cpu().numpy()


class SameNoise:
    """Quantus perturb_func adding our sampler's draws call by call."""

    def __init__(self, shape, scale, seed, kind):
        self.gen = torch.Generator().manual_seed(seed)
        self.shape, self.scale, self.kind = shape, scale, kind

    def __call__(self, arr, indices=None, **kwargs):
        draw = (torch.rand(self.shape, generator=self.gen, dtype=torch.float64) * 2 - 1
                if self.kind == "uniform" else
                torch.randn(self.shape, generator=self.gen, dtype=torch.float64))
        return arr + np_((draw * self.scale).float()).reshape(arr.shape)


def cases(model, x, y, a, m):
    n, d = x.shape[0], x[0].numel()
    a64 = np_(a).astype(np.float64)
    pos = a.clamp_min(0)
    common = dict(model=model, x_batch=np_(x), y_batch=np_(y), device="cpu", batch_size=n)

    def q(metric, attributions=a64, **kw):
        return lambda: np.asarray(metric(a_batch=attributions, **common, **kw), dtype=float)

    def ours(name, attributions=a, **kw):
        return lambda: np_(get_metric(name)(model=model, x=x, attributions=attributions,
                                            target=y, **kw))

    explain_q = lambda model, inputs, targets, **kw: np_(grad_x_input(  # noqa: E731
        model, torch.as_tensor(inputs), torch.as_tensor(targets).long())).astype(np.float64)
    rng = np.random.RandomState(7)
    subsets = np.stack([np.stack([rng.choice(d, 64, replace=False) for _ in range(n)])
                        for _ in range(20)])

    def faith_q():
        np.random.seed(7)  # Quantus draws the same subsets as rng above, in the same order
        return q(quantus.FaithfulnessCorrelation(nr_runs=20, subset_size=64, abs=False,
                                                normalise=False, perturb_baseline=0.0,
                                                return_aggregate=False, disable_warnings=True),
                softmax=False)()

    def road_q():
        metric = quantus.ROAD(percentages=[10, 20, 30, 40, 50, 60, 70, 80, 90], noise=0.0,
                              abs=False, normalise=False, disable_warnings=True)
        metric(a_batch=a64, **common)
        return np.array([metric.evaluation_scores[p] for p in metric.percentages])

    fr = [i / 10 for i in range(1, 10)]
    return {
        "sparseness": (ours("sparseness", a.abs() + 1e-7),
                       q(quantus.Sparseness(abs=True, normalise=False, disable_warnings=True))),
        "complexity": (ours("complexity"), q(quantus.Complexity(abs=True, normalise=False,
                                                                disable_warnings=True))),
        "effective_complexity": (ours("effective_complexity"), q(quantus.EffectiveComplexity(
            abs=True, normalise=False, eps=1e-5, disable_warnings=True))),
        "relevance_mass_accuracy": (ours("relevance_mass_accuracy", pos, masks=m), q(
            quantus.RelevanceMassAccuracy(abs=False, normalise=False, disable_warnings=True),
            np_(pos).astype(np.float64), s_batch=np_(m).astype(float))),
        "relevance_rank_accuracy": (ours("relevance_rank_accuracy", masks=m), q(
            quantus.RelevanceRankAccuracy(abs=False, normalise=False, disable_warnings=True),
            s_batch=np_(m).astype(float))),
        "pointing_game": (ours("pointing_game", masks=m), q(quantus.PointingGame(
            abs=False, normalise=False, disable_warnings=True), s_batch=np_(m).astype(float))),
        "attribution_localisation": (ours("attribution_localisation", masks=m), q(
            quantus.AttributionLocalisation(abs=False, normalise=False,
                                            positive_attributions=True, disable_warnings=True),
            s_batch=np_(m).astype(float))),
        "pixel_flipping (curve)": (
            lambda: np_(pixel_flipping_curve(model, x, a, y, 0.0, 28, "probability")).T,
            q(quantus.PixelFlipping(features_in_step=28, abs=False, normalise=False,
                                    perturb_baseline=0.0, disable_warnings=True), softmax=True)),
        "faithfulness_correlation": (ours("faithfulness_correlation", fill=0.0, nr_runs=20,
                                          subset_size=64, subsets=torch.as_tensor(subsets)),
                                     faith_q),
        "road_morf (curve)": (lambda: np_(road_curve(model, x, a, y, fr, "morf", 0.0)).mean(1),
                              road_q),
        "max_sensitivity": (
            ours("max_sensitivity", explain=grad_x_input, n_samples=5, radius=0.1, seed=3),
            lambda: q(quantus.MaxSensitivity(
                nr_samples=5, lower_bound=0.1, abs=False, normalise=False,
                perturb_func=SameNoise(x.shape, 0.1, 3, "uniform"),
                return_nan_when_prediction_changes=False, disable_warnings=True),
                explain_func=explain_q)()),
        "avg_sensitivity": (
            ours("avg_sensitivity", explain=grad_x_input, n_samples=5, radius=0.1, seed=3),
            lambda: q(quantus.AvgSensitivity(
                nr_samples=5, lower_bound=0.1, abs=False, normalise=False,
                perturb_func=SameNoise(x.shape, 0.1, 3, "uniform"),
                return_nan_when_prediction_changes=False, disable_warnings=True),
                explain_func=explain_q)()),
        "local_lipschitz": (
            ours("local_lipschitz", explain=grad_x_input, n_samples=5, std=0.1, seed=4),
            lambda: q(quantus.LocalLipschitzEstimate(
                nr_samples=5, perturb_std=0.1, perturb_mean=0.0, abs=False, normalise=False,
                perturb_func=SameNoise(x.shape, 0.1, 4, "gaussian"),
                return_nan_when_prediction_changes=False, disable_warnings=True),
                explain_func=explain_q)()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    model, x, y, a, m = setup(args.n)
    print(f"# torch {torch.__version__}, quantus {quantus.__version__}, threads "
          f"{torch.get_num_threads()}, {args.n} digits 1x28x28, SmallCNN, gradient; median "
          f"of {args.reps} interleaved calls")
    print(f"{'metric':28s} {'ours s':>9s} {'quantus s':>10s} {'ratio':>8s} {'max |diff|':>11s}")
    for name, (ours, theirs) in cases(model, x, y, a, m).items():
        if args.only and not any(o in name for o in args.only):
            continue
        times = {"ours": [], "quantus": []}
        values = {}
        for _ in range(args.reps):  # interleaved: load changes hit both alike
            for key, fn in (("ours", ours), ("quantus", theirs)):
                t0 = time.perf_counter()
                values[key] = np.asarray(fn(), dtype=float)
                times[key].append(time.perf_counter() - t0)
        t_ours, t_q = statistics.median(times["ours"]), statistics.median(times["quantus"])
        ok = np.isfinite(values["ours"]) & np.isfinite(values["quantus"])
        diff = float(np.abs(values["ours"][ok] - values["quantus"][ok]).max())
        print(f"{name:28s} {t_ours:9.4f} {t_q:10.4f} {t_q / t_ours:8.1f} {diff:11.2e}",
              flush=True)


if __name__ == "__main__":
    main()
