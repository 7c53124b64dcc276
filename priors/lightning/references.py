"""Expected Gradients references: the one factory of reference samplers for Lightning code.

:func:`training_references` builds every sampler that :class:`~priors.PriorModule`, the
:class:`~priors.callbacks.AttributionPrior` callback, :class:`~priors.callbacks.AttributionMaps`
and :class:`~priors.callbacks.AttributionShare` draw from. Which transform, and why: the draws
go through the *training* batch path (the module's or the datamodule's
``on_before_batch_transfer``, the device transfer, ``on_after_batch_transfer``), because
Expected Gradients' references are samples of the training-data distribution (Erion, Janizek,
Sturmfels, Lundberg and Lee, "Improving performance of deep learning models with axiomatic
attribution priors and expected gradients", Nature MI 2021), and the model only ever saw
training inputs after those hooks (e.g. a GPU-side normalization). Without a LightningModule
(``AttributionShare.compute`` on a plain model) the draws are the dataset's inputs
(:func:`~priors.attributions.expected_gradients.draw_references` moves them to the input's
device). What changes against the earlier raw draws of the two callbacks: nothing
for modules without batch hooks (the default ``PriorModule``); with a normalizing
``on_after_batch_transfer`` their references are now normalized like the inputs the model
trained on.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..attributions import ReferenceSampler
from ..core.batch import parse_batch


def training_references(dataset: Dataset, seed: Optional[int] = None,
                        pl_module: Optional[pl.LightningModule] = None,
                        batch_fn: Optional[Callable] = None,
                        collate_fn: Optional[Callable] = None) -> ReferenceSampler:
    """A :class:`ReferenceSampler` over ``dataset`` whose draws pass through ``pl_module``'s
    training batch hooks (see the module docstring; none without a module). ``seed`` seeds
    the sampler's generator (``None``: ``torch.initial_seed()``)."""

    def transform(batch: Any) -> Tensor:
        if pl_module is not None:
            batch = pl_module._on_before_batch_transfer(batch, 0)
            batch = pl_module._apply_batch_transfer_handler(batch, pl_module.device, 0)
        return parse_batch(batch, batch_fn, who="Expected Gradients references", need_y=False).x

    return ReferenceSampler(dataset, seed=seed, batch_transform=transform, collate_fn=collate_fn)


def auto_references(trainer: pl.Trainer, pl_module: pl.LightningModule,
                    batch_fn: Optional[Callable], rank: int,
                    seed: Optional[int] = None) -> Optional[ReferenceSampler]:
    """:func:`training_references` over the trainer's training dataset (the datamodule's
    ``train_dataset``, else the train dataloader's dataset, with that loader's ``collate_fn``),
    seeded per process rank (``seed`` or ``torch.initial_seed()``, plus ``7919 * rank``) so that
    ranks draw differently and reproducibly; ``None`` without a training dataset."""
    datamodule = getattr(trainer, "datamodule", None)
    dataset = getattr(datamodule, "train_dataset", None)
    loader = getattr(trainer, "train_dataloader", None)
    if dataset is None:
        dataset = getattr(loader, "dataset", None)
    if dataset is None:
        return None
    base = torch.initial_seed() if seed is None else int(seed)
    return training_references(dataset, base + 7919 * rank, pl_module, batch_fn,
                               getattr(loader, "collate_fn", None))
