"""DataLoaders with full-batch support and seeded shuffling, for the in-memory datamodules."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["make_dataloader"]


def _full_or(batch_size: int | None, n: int) -> int:
    if batch_size is None or batch_size <= 0:
        return max(n, 1)
    return int(batch_size)


def make_dataloader(
    dataset: Dataset,
    batch_size: int | None,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
) -> DataLoader:
    """DataLoader with full-batch support (``batch_size`` None or <= 0) and seeded shuffling.

    The shuffling generator is re-seeded for every loader, so each ``train_dataloader()`` call
    yields the same order: runs are reproducible from ``seed`` alone.

    >>> from torch.utils.data import TensorDataset
    >>> loader = make_dataloader(TensorDataset(torch.arange(10.0)), None, shuffle=False)
    >>> [len(b[0]) for b in loader]
    [10]
    """
    generator = torch.Generator().manual_seed(int(seed)) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=_full_or(batch_size, len(dataset)),
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
