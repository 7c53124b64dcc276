"""Expected Gradients references drawn from the training data through the training transforms."""
from __future__ import annotations

from typing import Any, Callable, Optional

import pytorch_lightning as pl
import torch
from torch import Tensor

from ..attributions import ReferenceSampler
from ..core.batch import parse_batch


def auto_references(trainer: pl.Trainer, pl_module: pl.LightningModule,
                    batch_fn: Optional[Callable], rank: int) -> Optional[ReferenceSampler]:
    """A :class:`ReferenceSampler` over the training dataset whose draws go through the same
    batch transforms as training batches (``on_before_batch_transfer``, device transfer,
    ``on_after_batch_transfer``, of the module or the datamodule), seeded per process rank so
    that ranks draw differently and reproducibly; ``None`` without a training dataset."""
    dataset = getattr(trainer.datamodule, "train_dataset", None)
    loader = getattr(trainer, "train_dataloader", None)
    if dataset is None:
        dataset = getattr(loader, "dataset", None)
    if dataset is None:
        return None

    def transform(batch: Any) -> Tensor:
        batch = pl_module._on_before_batch_transfer(batch, 0)
        batch = pl_module._apply_batch_transfer_handler(batch, pl_module.device, 0)
        return parse_batch(batch, batch_fn, who="Expected Gradients references",
                           need_y=False).x

    seed = torch.initial_seed() + 7919 * rank
    return ReferenceSampler(dataset, seed=seed, batch_transform=transform,
                            collate_fn=getattr(loader, "collate_fn", None))
