"""Decoy-Digits: a CPU-sized, real-data version of the Decoy MNIST benchmark.

Ross, Hughes and Doshi-Velez, "Right for the Right Reasons: Training Differentiable Models by
Constraining their Explanations", IJCAI 2017, https://arxiv.org/abs/1703.03717, built Decoy
MNIST: every training digit gets a 4x4 swatch in a random corner whose shade is a function of
the label (255 - 25 y), so the swatch alone predicts the label; at test the shade is random,
so a model that relied on the swatch fails. Annotation masks marking the swatch let a prior
(RRR, or X-Gradient / Expected Gradients with a masked L2 penalty) forbid using it.

Here the digits are scikit-learn's bundled 1797 handwritten 8x8 digits (UCI optical
recognition of handwritten digits; values 0..16), upsampled bilinearly to 28x28 and scaled to
[0, 1], so the benchmark runs on a CPU in seconds and needs no download.

Splits and shades (all drawn from ``seed``):

* ``n_train`` training and ``n_val`` validation images, the rest (297 by default) test.
* Training swatches have shade ``(255 - 25 y) / 255``.
* Test swatches have the shade of a uniformly random label, ``(255 - 25 r) / 255``, so the
  swatch is as misleading as it can be while staying in the training range of shades.
* Validation follows the *training* rule by default (``val_shade="label"``): model selection
  then sees only data from the training distribution, as it would in practice where the shift
  is unknown, and never peeks at the test distribution. ``val_shade="random"`` mimics the test
  instead (an oracle validation set, useful to study the best achievable selection).
* ``decoy=False`` gives the no-decoy baseline: the same images and splits without swatches
  anywhere (train, val and test), and all-zero masks.

Each item is ``(x, y, mask)``: ``x`` ``(1, 28, 28)`` float32, ``y`` int64, ``mask`` ``(1, 28,
28)`` float32, 1 on the swatch (the features a prior should keep the model from using).
"""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from priors.data.arguments import check_int as _check_int
from priors.data.loaders import make_dataloader

__all__ = ["DecoyDigitsDataModule", "add_decoys", "decoy_shade", "load_upsampled_digits"]

VAL_SHADES = ("label", "random")


def decoy_shade(labels: Tensor) -> Tensor:
    """Swatch intensity in [0, 1] for labels 0..9: ``(255 - 25 y) / 255`` (Ross et al. 2017)."""
    return (255.0 - 25.0 * labels.float()) / 255.0


def load_upsampled_digits(image_size: int = 28) -> tuple[Tensor, Tensor]:
    """scikit-learn's digits as ``(1797, 1, S, S)`` float32 in [0, 1] and int64 labels."""
    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return x.clamp_(0.0, 1.0), torch.from_numpy(digits.target.astype(np.int64))


def add_decoys(x: Tensor, shades: Tensor, corners: Tensor, patch_size: int = 4
               ) -> tuple[Tensor, Tensor]:
    """Copy of ``x`` ``(N, C, H, W)`` with a ``patch_size`` square of ``shades[n]`` in corner
    ``corners[n]`` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right), and the masks."""
    x = x.clone()
    mask = torch.zeros_like(x)
    h, w = x.shape[-2:]
    p = patch_size
    for corner in range(4):
        idx = (corners == corner).nonzero().flatten()
        rows = slice(0, p) if corner < 2 else slice(h - p, h)
        cols = slice(0, p) if corner % 2 == 0 else slice(w - p, w)
        x[idx, :, rows, cols] = shades[idx].view(-1, 1, 1, 1).to(x)
        mask[idx, :, rows, cols] = 1.0
    return x, mask


class DecoyDigitsDataModule(pl.LightningDataModule):
    """Decoy-Digits (see the module docstring): 10-class, 1x28x28 images with swatch masks.

    Args:
        decoy: add the swatches (``False``: the no-decoy baseline).
        n_train, n_val: split sizes; the remaining images are the test set.
        val_shade: ``"label"`` (validation like training, the default) or ``"random"``
            (validation like test).
        image_size: side of the upsampled images.
        patch_size: side of the swatch.
        batch_size: batch size; ``None`` or ``<= 0`` gives full batches.
        num_workers: DataLoader workers (0 is fastest for this in-memory data).
        seed: seeds the split, the corners, the test shades and the training-loader shuffling.

    Exposes ``train_dataset`` / ``val_dataset`` / ``test_dataset`` (``TensorDataset(x, y,
    mask)``), ``num_classes = 10``, ``task = "multiclass"``, ``in_channels = 1``,
    ``num_features`` (``image_size**2``) and ``train_idx`` / ``val_idx`` / ``test_idx`` (indices
    into scikit-learn's digits).
    """

    task = "multiclass"
    num_classes = 10
    in_channels = 1

    def __init__(
        self,
        decoy: bool = True,
        n_train: int = 1200,
        n_val: int = 300,
        val_shade: str = "label",
        image_size: int = 28,
        patch_size: int = 4,
        batch_size: int | None = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if val_shade not in VAL_SHADES:
            raise ValueError(f"val_shade must be one of {VAL_SHADES}, got {val_shade!r}")
        n_train = _check_int("n_train", n_train, 1)
        n_val = _check_int("n_val", n_val, 1)
        self.image_size = _check_int("image_size", image_size, 8)
        self.patch_size = _check_int("patch_size", patch_size, 1)
        if 2 * self.patch_size > self.image_size:
            raise ValueError(f"patch_size {patch_size} is too large for {image_size}x{image_size} "
                             "images (swatches in different corners would overlap)")
        self.decoy = bool(decoy)
        self.val_shade = val_shade
        self.batch_size = batch_size
        self.num_workers = _check_int("num_workers", num_workers, 0)
        self.seed = _check_int("seed", seed, 0)

        x, y = load_upsampled_digits(self.image_size)
        n = len(y)
        if n_train + n_val >= n:
            raise ValueError(f"n_train + n_val = {n_train + n_val} leaves no test images out of "
                             f"{n} digits")
        gen = torch.Generator().manual_seed(self.seed)
        perm = torch.randperm(n, generator=gen)
        self.train_idx = perm[:n_train].sort().values
        self.val_idx = perm[n_train:n_train + n_val].sort().values
        self.test_idx = perm[n_train + n_val:].sort().values
        # Drawn whether or not decoys are used, so decoy and no-decoy share the same split.
        corners = torch.randint(4, (n,), generator=gen)
        random_shades = decoy_shade(torch.randint(10, (n,), generator=gen))
        label_shades = decoy_shade(y)
        val_shades = label_shades if val_shade == "label" else random_shades

        def split(idx: Tensor, shades: Tensor) -> TensorDataset:
            if not self.decoy:
                return TensorDataset(x[idx], y[idx], torch.zeros_like(x[idx]))
            xd, mask = add_decoys(x[idx], shades[idx], corners[idx], self.patch_size)
            return TensorDataset(xd, y[idx], mask)

        self.train_dataset = split(self.train_idx, label_shades)
        self.val_dataset = split(self.val_idx, val_shades)
        self.test_dataset = split(self.test_idx, random_shades)
        self.num_features = self.in_channels * self.image_size ** 2

    def setup(self, stage: str | None = None) -> None:
        """Nothing to do: the data is built in ``__init__`` (in memory, under a second)."""

    def train_dataloader(self) -> DataLoader:
        return make_dataloader(self.train_dataset, self.batch_size, True, self.seed,
                               self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return make_dataloader(self.val_dataset, self.batch_size, False, self.seed,
                               self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return make_dataloader(self.test_dataset, self.batch_size, False, self.seed,
                               self.num_workers)
