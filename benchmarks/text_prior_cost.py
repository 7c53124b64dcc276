"""Per-step cost of text priors on BERT classifiers, as a multiple of the unregularized step.

    python benchmarks/text_prior_cost.py                      # tiny BERT and BERT-base size
    python benchmarks/text_prior_cost.py --sizes tiny --reps 5

One CPU thread, batch 8, sequence 128 (random token ids, a random rationale mask), random-init
models built from a config (no download). A step is forward, task loss, prior, backward to the
parameters (priors.step, as PriorModule runs it). Timings are interleaved (every method once per
round, rounds repeated) and the median per method is divided by the median unregularized step.
The work column counts model passes per step: the unregularized step is 1 forward + 1 backward;
a shared-forward gradient prior adds one gradient and its double backward (about 2 passes more:
~2x); IG with n points adds n forwards, n gradients and their double backward (~(2n+2)/2 x).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from priors import Prior
from priors.core.tokens import TokenBatch
from priors.models import hf_text_classifier
from priors.step import backward_to_parameters, prior_step_loss

SIZES = {
    "tiny": dict(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128),
    "base": dict(hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072),
}


def work(method: str, n_steps: int) -> str:
    if method == "none":
        return "F+B"
    if method == "text_ig":
        return f"F+B + {n_steps}x(F+G) + double B"
    return "F+B + G + double B"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["tiny", "base"], choices=list(SIZES))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["grad", "ixg", "text_ig"])
    parser.add_argument("--n-steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    for size in args.sizes:
        torch.manual_seed(0)
        model = hf_text_classifier(30522, 2, max_length=args.length, **SIZES[size]).train()
        params = [p for p in model.parameters() if p.requires_grad]
        ids = torch.randint(5, 30522, (args.batch, args.length), generator=g)
        tokens = TokenBatch(ids, torch.ones_like(ids))
        y = torch.randint(2, (args.batch,), generator=g)
        mask = (torch.rand(args.batch, args.length, generator=g) < 0.2).float()
        priors = {"none": None, "grad": Prior("grad", "masked_l2"),
                  "ixg": Prior("ixg", "masked_l2"),
                  "text_ig": Prior("text_ig", "masked_l2", n_steps=args.n_steps)}
        priors = {k: v for k, v in priors.items() if k == "none" or k in args.methods}
        times = {name: [] for name in priors}
        for rep in range(args.reps + 1):
            for name, prior in priors.items():
                model.zero_grad(set_to_none=True)
                start = time.perf_counter()
                step = prior_step_loss(model, prior, tokens, y, "multiclass", mask)
                backward_to_parameters(step.loss, params, step=step if prior else None)
                if rep:  # the first round warms up
                    times[name].append(time.perf_counter() - start)
        base = statistics.median(times["none"])
        print(f"\n{size}: batch {args.batch}, sequence {args.length}, 1 thread, "
              f"median of {args.reps}")
        print(f"{'method':8s} {'step ms':>9s} {'x none':>7s}  work")
        for name, values in times.items():
            med = statistics.median(values)
            print(f"{name:8s} {1000 * med:9.1f} {med / base:7.2f}  {work(name, args.n_steps)}")


if __name__ == "__main__":
    main()
