"""Per-step cost of each explanation loss relative to the unregularized step (Decoy-MNIST CNN).

    python benchmarks/loss_step_cost.py [--reps 7] [--batch 64] [--threads 1]

One process, one Decoy-MNIST-5k batch (real MNIST digits with their swatch masks), the small
CNN of ``conf/experiment/decoy_mnist.yaml`` (SmallCNN 28x28, channels 16/32, hidden 64). Per
loss, the calls PriorModule makes in a training step (``priors.step.prior_step_loss`` +
``backward_to_parameters``; no optimizer step), interleaved, median of ``--reps``. Beside each
ratio its work count, measured in the same step: model forwards (calls of the model) and
backward passes through the first convolution's output (autograd traversals of the forward
graph: task-loss backward, the loss's own ``autograd.grad``, double backward). RRR (``Prior("rrr",
"masked_l2")``) and an attribution-free step are the references.
"""
from __future__ import annotations

import sys
from typing import Dict

import torch

from _bench import common_args, print_table, setup, time_interleaved

from priors.data.decoy_mnist import DecoyMNISTDataModule
from priors.losses import LossPrior, available_losses
from priors.models.small_cnn import SmallCNN
from priors.training.prior import Prior
from priors.training.step import backward_to_parameters, prior_step_loss


def counted(model: torch.nn.Module):
    """Counters of model forwards and of backward passes through the first conv's output."""
    counts = {"forwards": 0, "backwards": 0}
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))

    def on_model(module, args, out):
        counts["forwards"] += 1

    def on_conv(module, args, out):
        if out.requires_grad:
            out.register_hook(lambda g: counts.__setitem__("backwards", counts["backwards"] + 1))

    return counts, [model.register_forward_hook(on_model), first.register_forward_hook(on_conv)]


def main(argv=None) -> int:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    setup(args)
    dm = DecoyMNISTDataModule(n_train=args.batch, n_val=100, seed=0)
    x, y, mask = dm.train_dataset.tensors
    torch.manual_seed(0)
    model = SmallCNN(1, 10, 28, channels=(16, 32), hidden=64)
    params = [p for p in model.parameters() if p.requires_grad]
    priors: Dict[str, object] = {"none": None, "rrr": Prior("rrr", "masked_l2", 10.0)}
    priors.update({name: LossPrior(name, 1.0) for name in available_losses(requires_vit=False)})

    def make(prior):
        def step():
            for p in params:
                p.grad = None
            s = prior_step_loss(model, prior, x, y, "multiclass", mask)
            backward_to_parameters(s.loss, params, step=s if s.prior is not None else None)
        return step

    steps = {name: make(prior) for name, prior in priors.items()}
    work = {}
    for name, step in steps.items():
        counts, handles = counted(model)
        step()
        for h in handles:
            h.remove()
        work[name] = dict(counts)
    times = time_interleaved(steps, "cpu", args.reps, warmup=args.warmup,
                             min_seconds=args.min_rep_seconds)
    base = times["none"]
    rows = [[name, f"{times[name] * 1e3:.1f}", f"{times[name] / base:.2f}x",
             str(work[name]["forwards"]), str(work[name]["backwards"])] for name in steps]
    print(f"Decoy-MNIST CNN, batch {args.batch}, {torch.get_num_threads()} thread(s), median of "
          f"{args.reps}")
    print_table(rows, ["loss", "step ms", "vs none", "forwards", "backwards"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
