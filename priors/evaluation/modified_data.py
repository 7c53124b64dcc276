"""Datamodules serving a modified copy of a trained run's data, for retraining experiments.

* :class:`RoarDataModule`: the run's splits with the top (ROAR) or bottom (KAR) fraction of
  features replaced by the training mean, ranked by an attribution method of the run's model
  (cached on disk; see :mod:`priors.evaluation.roar_data`). Hooker et al., NeurIPS 2019.
* :class:`PermutedLabelsDataModule`: the run's splits with training and validation labels
  permuted, the data-randomization test of Adebayo et al., "Sanity Checks for Saliency Maps",
  NeurIPS 2018 (test labels stay true, so the test score shows the model learned no signal).

Both copy the original datamodule's sizes (``num_features``, ``num_classes``, ``task``,
``in_channels``, ...) so that ``model: ... auto`` sizes resolve as for the original run.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from priors.data.loaders import make_dataloader

__all__ = ["PermutedLabelsDataModule", "RoarDataModule"]

_COPIED = ("num_features", "num_classes", "task", "in_channels", "feature_names", "image_size")


class _SplitsDataModule(pl.LightningDataModule):
    """Serves ``TensorDataset`` splits; sizes and loader settings copied from the run's data."""

    def __init__(self, run: str, batch_size: Optional[int] = None, seed: int = 0) -> None:
        super().__init__()
        from priors.evaluation.roar_data import load_run_config  # avoids an import cycle
        self.run = str(run)
        self.run_cfg = load_run_config(run)
        self.original = instantiate(self.run_cfg.data)
        for name in _COPIED:
            if hasattr(self.original, name):
                setattr(self, name, getattr(self.original, name))
        self.batch_size = batch_size if batch_size is not None else \
            getattr(self.original, "batch_size", 64)
        self.seed = int(seed)

    def _set_splits(self, splits: Mapping[str, Tuple[Tensor, ...]]) -> None:
        self.train_dataset, self.val_dataset, self.test_dataset = (
            TensorDataset(*splits[s]) for s in ("train", "val", "test"))

    def setup(self, stage: str | None = None) -> None:
        """Nothing to do: the splits are built in ``__init__``."""

    def train_dataloader(self) -> DataLoader:
        return make_dataloader(self.train_dataset, self.batch_size, True, self.seed)

    def val_dataloader(self) -> DataLoader:
        return make_dataloader(self.val_dataset, self.batch_size, False, self.seed)

    def test_dataloader(self) -> DataLoader:
        return make_dataloader(self.test_dataset, self.batch_size, False, self.seed)


class RoarDataModule(_SplitsDataModule):
    """A run's data with features removed by attribution rank (ROAR / KAR), cached on disk.

    Args:
        run: directory of the trained run (``result.json`` and ``model.pt``).
        method: registered attribution method, or ``random`` (the random-ranking baseline).
        fraction: fraction of features (pixels for images) replaced by the training mean.
        mode: ``roar`` (replace the most important) or ``kar`` (replace the least important).
        seed: seeds the random ranking, stochastic methods and tie breaking; part of the cache key.
        cache_dir: where the modified datasets live (default ``<run>/roar/cache``).
        hparams: the method's hyperparameters.
        target: attributed output, ``pred`` (predicted class) or ``label`` (true label: leaks
            the label into the modified test inputs through the removal pattern).
        batch_size: loader batch size (default: the original datamodule's).
    """

    def __init__(self, run: str, method: str, fraction: float, mode: str = "roar",
                 seed: int = 0, cache_dir: Optional[str] = None,
                 hparams: Optional[Mapping[str, Any]] = None, target: str = "pred",
                 batch_size: Optional[int] = None) -> None:
        super().__init__(run, batch_size, seed)
        from omegaconf import OmegaConf

        from priors.evaluation.roar_data import modified_dataset
        if OmegaConf.is_config(hparams):  # the cache key must not depend on the container type
            hparams = OmegaConf.to_container(hparams, resolve=True)
        splits, self.cache_path, self.built = modified_dataset(
            run, method, fraction, mode, seed, cache_dir, dict(hparams or {}), target)
        self._set_splits(splits)


class PermutedLabelsDataModule(_SplitsDataModule):
    """A run's data with training and validation labels permuted (seeded); test labels kept."""

    def __init__(self, run: str, seed: int = 0, batch_size: Optional[int] = None) -> None:
        super().__init__(run, batch_size, seed)
        from priors.evaluation.roar_data import split_tensors
        self.original.prepare_data()
        self.original.setup("fit")
        gen = torch.Generator().manual_seed(int(seed))
        splits: Dict[str, Tuple[Tensor, ...]] = {}
        for split in ("train", "val", "test"):
            x, y, *rest = split_tensors(self.original, split)
            if split != "test":
                y = y[torch.randperm(len(y), generator=gen)]
            splits[split] = (x, y, *rest)
        self._set_splits(splits)

