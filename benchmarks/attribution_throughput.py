"""Attribution throughput (examples/s) of priors.attributions against Captum, same model and batch.

    python benchmarks/attribution_throughput.py [--models xalexnet nhanes] [--reps 5] [--threads 1]

Pairs: our integrated_gradients (128 Gauss-Legendre steps) vs Captum's IntegratedGradients (same
rule, same steps, same internal batch size); our input_x_gradient vs Captum's InputXGradient;
our gradient vs Captum's Saliency (abs=False, i.e. the plain gradient). Each pair is also
checked to agree numerically. Targets: our IG throughput >= Captum's; our XG within 5% of
Captum's InputXGradient.
"""
from __future__ import annotations

import sys
import warnings

import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency

from _bench import check, common_args, model_and_batch, print_table, setup, time_interleaved
from priors.attributions import gradient, input_x_gradient, integrated_gradients


def pairs(model, x, target, n_steps: int, internal_batch_size: int, ig_images: int):
    ig, ixg, sal = IntegratedGradients(model), InputXGradient(model), Saliency(model)
    xi = x[:ig_images]
    ti = target[:ig_images] if torch.is_tensor(target) else target
    return {
        "IG": (lambda: integrated_gradients(model, xi, target=ti, n_steps=n_steps,
                                            internal_batch_size=internal_batch_size),
               lambda: ig.attribute(xi, target=ti, n_steps=n_steps, method="gausslegendre",
                                    internal_batch_size=internal_batch_size)),
        "XG / InputXGradient": (lambda: input_x_gradient(model, x, target),
                                lambda: ixg.attribute(x, target=target)),
        "gradient / Saliency": (lambda: gradient(model, x, target),
                                lambda: sal.attribute(x, target=target, abs=False)),
    }


def run(name: str, args) -> dict:
    model, x, y, task, _ = model_and_batch(name, args.device)
    model.eval()
    target = y.long() if task == "multiclass" else None
    if target is None:  # Captum wants a 2-D output to select from; ours accepts (B,) directly
        wrapped = torch.nn.Sequential(model, torch.nn.Unflatten(0, (-1, 1)))
        model, target = wrapped, 0
    ig_images = min(args.ig_images or len(x), len(x))
    ibs = args.internal_batch_size or ig_images * 16
    fns, sizes = {}, {}
    for key, (ours, theirs) in pairs(model, x, target, args.n_steps, ibs, ig_images).items():
        a, b = ours().detach(), theirs().detach()
        err = float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))
        if err > 1e-3:
            raise AssertionError(f"{name} {key}: ours and Captum's differ "
                                 f"(max rel. error {err:.2e})")
        fns[f"{key}|ours"], fns[f"{key}|captum"] = ours, theirs
        sizes[key] = ig_images if key == "IG" else len(x)
    times = time_interleaved(fns, args.device, args.reps, args.warmup, args.min_rep_seconds)
    print(f"\n## {name}: batch {tuple(x.shape)}; IG on {ig_images} of them, {args.n_steps} "
          f"steps, internal batch {ibs}")
    rows, ratios = [], {}
    for key, n in sizes.items():
        ours, theirs = times[f"{key}|ours"], times[f"{key}|captum"]
        ratios[key] = theirs / ours  # > 1: ours is faster
        rows.append((key, f"{n / ours:.2f}", f"{n / theirs:.2f}", f"{ratios[key]:.3f}"))
    print_table(rows, ["method", "ours ex/s", "captum ex/s", "ours / captum throughput"])
    return ratios


def main(argv=None) -> int:
    parser = common_args(__doc__.split("\n")[0])
    parser.add_argument("--n-steps", type=int, default=128)
    parser.add_argument("--internal-batch-size", type=int, default=None,
                        help="IG points per forward (default: 16 x IG images)")
    parser.add_argument("--ig-images", type=int, default=None,
                        help="IG on the first N images of the batch (default: all; IG is 128 "
                             "forward+backward passes per image, slow for X-AlexNet on CPU)")
    args = parser.parse_args(argv)
    setup(args)
    # Captum warns on every call that it sets requires_grad on the inputs.
    warnings.filterwarnings("ignore", message=".*required_grads.*|.*requires_grad.*")
    results = {name: run(name, args) for name in args.models}
    ok = True
    print()
    for name, r in results.items():
        ok &= check(f"{name}: our IG throughput >= Captum's", r["IG"] >= 1.0, f"{r['IG']:.3f}x")
        ok &= check(f"{name}: our XG within 5% of Captum's InputXGradient",
                    r["XG / InputXGradient"] >= 0.95, f"{r['XG / InputXGradient']:.3f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
