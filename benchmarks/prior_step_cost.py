"""Training-step time and peak memory of each attribution prior relative to the unregularized step.

    python benchmarks/prior_step_cost.py [--models xalexnet nhanes] [--reps 7] [--threads 1]

One process, one model and batch per model; each step is zero_grad, forward (shared with the
prior where the method allows), task loss + weighted Gini penalty on the attributions, backward
(a double backward for priors) and an Adam step -- the same calls as PriorModule.training_step
without Lightning's logging. Prints median step times and their ratio to the unregularized
step; the peak memory of forward + backward (gradients included, optimizer step excluded) and
the activations autograd saves for backward (exact, allocator-independent), each with its ratio;
and PASS/FAIL for the CPU targets: XG step <= 2.8x unregularized, EG k=1 step >= 1.4x the XG
step (XG shares the task loss's forward pass; EG needs its own at the interpolated points).
"""
from __future__ import annotations

import sys

import torch

from _bench import (check, common_args, exact_cpu_memory, model_and_batch, peak_memory_mb,
                    print_table, saved_for_backward_mb, setup, time_interleaved)

from priors.module import task_loss
from priors.prior import Prior

PRIORS = {
    "none": None,
    "xg": dict(method="xg"),
    "eg(k=1)": dict(method="eg", k=1),
    "eg(k=4)": dict(method="eg", k=4),
    "rrr": dict(method="rrr"),
    "grad": dict(method="grad"),
}


def make_step(model, x, y, task, prior, refs, opt, optimizer_step: bool = True):
    def step():
        opt.zero_grad(set_to_none=True)
        if prior is None:
            loss = task_loss(model(x), y, task)
        else:
            out = prior.compute(model, x, y, None, refs)
            loss = task_loss(out.outputs, y, task) + out.weighted
        loss.backward()
        if optimizer_step:
            opt.step()
    return step


def run(name: str, args) -> dict:
    model, x, y, task, refs = model_and_batch(name, args.device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-6)
    def prior(kw):
        return Prior(penalty="gini", weight=0.1, **kw) if kw else None

    steps = {key: make_step(model, x, y, task, prior(kw), refs, opt) for key, kw in PRIORS.items()}
    times = time_interleaved(steps, args.device, args.reps, args.warmup, args.min_rep_seconds)
    if args.device == "cpu":
        exact_cpu_memory()
    for fn in steps.values():  # Adam state exists before the measured calls
        fn()
    # Peak of forward + backward, where the priors differ (Adam's step adds the same
    # parameter-sized temporaries to every method, which hides the difference on big models).
    grads = {key: make_step(model, x, y, task, prior(kw), refs, opt, optimizer_step=False)
             for key, kw in PRIORS.items()}
    # Gradients freed first, so each peak includes allocating them (and, for the priors, the
    # parameter-sized temporary of accumulating a second gradient contribution).
    mem = {key: peak_memory_mb(fn, args.device, lambda: opt.zero_grad(set_to_none=True))
           for key, fn in grads.items()}
    params = list(model.parameters())
    saved = {key: saved_for_backward_mb(fn, params) for key, fn in grads.items()}
    base_t, base_m, base_s = times["none"], mem["none"], saved["none"]
    print(f"\n## {name}: batch {tuple(x.shape)}, {sum(p.numel() for p in model.parameters()):,} "
          f"parameters")
    # Below ~1 MiB the resident-set reading is page and allocator noise: no ratio.
    rows = [(key, f"{times[key] * 1e3:.2f}", f"{times[key] / base_t:.2f}",
             f"{x.shape[0] / times[key]:.1f}", f"{mem[key]:.1f}",
             f"{mem[key] / base_m:.2f}" if base_m >= 1 else "-", f"{saved[key]:.2f}",
             f"{saved[key] / base_s:.2f}") for key in steps]
    print_table(rows, ["prior", "step ms", "x none", "examples/s", "fwd+bwd peak MiB",
                       "peak x none", "saved MiB", "saved x none"])
    return {"times": times, "mem": mem, "saved": saved}


def main(argv=None) -> int:
    parser = common_args(__doc__.split("\n")[0])
    args = parser.parse_args(argv)
    setup(args)
    results = {name: run(name, args) for name in args.models}
    ok = True
    print()
    for name, res in results.items():
        t = res["times"]
        ok &= check(f"{name}: XG prior step <= 2.8x unregularized", t["xg"] <= 2.8 * t["none"],
                    f"{t['xg'] / t['none']:.2f}x")
        ok &= check(f"{name}: EG k=1 prior step >= 1.4x XG prior step",
                    t["eg(k=1)"] >= 1.4 * t["xg"], f"{t['eg(k=1)'] / t['xg']:.2f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
