"""Train a tiny X-MLP with an attribution prior for a few steps, in one or several processes.

Run as a script (Lightning's DDP re-launches it for the other ranks):
    python tests/ddp_run.py --devices 2 --batch-size 32 --method xg --out weights.pt
Rank 0 saves the final weights and, per rank, the first Expected Gradients references drawn.
"""
import argparse

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from priors import Prior, PriorModule
from priors.attributions import ReferenceSampler
from priors.models import MLP


class Recording(PriorModule):
    """Records the first references each rank draws (for the per-rank sampling check)."""

    def on_train_start(self):
        super().on_train_start()
        if isinstance(self.references, ReferenceSampler):
            state = self.references.generator.get_state()
            self.first_refs = self.references(4)
            self.references.generator.set_state(state)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--method", default="xg")
    parser.add_argument("--penalty", default="l1")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--refs", choices=("data", "zero"), default="data",
                        help="EG references: drawn from the training set, or one zero baseline")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 10, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).float()
    pl.seed_everything(0, verbose=False)
    prior = Prior(args.method, args.penalty, weight=1.0, **({"k": 4} if args.method == "eg" else {}))
    module = Recording(MLP(10, hidden=(16,), bias=False), prior, task="binary",
                       optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    if args.refs == "zero":
        module.references = torch.zeros(1, 10)
    # Under DDP, Lightning gives each rank a DistributedSampler(shuffle=True, seed=0): rank r
    # takes positions r, r + W, ... of randperm(N) drawn from a generator seeded with 0 (epoch 0).
    # The single process reads that permutation in order, so that the W ranks' batches of step t
    # together are its batch t.
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).tolist()
    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size,
                        sampler=order if args.devices == 1 else None)
    strategy = "ddp" if args.devices > 1 else "auto"
    trainer = pl.Trainer(accelerator="cpu", devices=args.devices, strategy=strategy,
                         max_steps=args.steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, loader)
    refs = getattr(module, "first_refs", torch.zeros(0))
    gathered = trainer.strategy.all_gather(refs) if args.devices > 1 else refs[None]
    if trainer.global_rank == 0:
        torch.save({"weights": {k: v.detach().clone() for k, v in module.model.state_dict().items()},
                    "first_refs": gathered, "world_size": trainer.world_size,
                    "train_x": x}, args.out)


if __name__ == "__main__":
    main()
