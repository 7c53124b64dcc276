"""Decoy-Digits: the data (swatches, shades, masks, splits) and the benchmark's ordering."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from priors.data import DecoyDigitsDataModule
from priors.data.decoy_digits import decoy_shade, load_upsampled_digits
from priors.pipeline import run
from priors.app import TRAIN_CONF

CONF = str(TRAIN_CONF)


@pytest.fixture(scope="module")
def dm():
    return DecoyDigitsDataModule(seed=0)


def _swatch_values(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image: the swatch's pixel values, shape (N, 16)."""
    return x[mask.bool()].view(len(x), -1)


def test_shapes_splits_and_sizes(dm):
    assert dm.num_classes == 10 and dm.task == "multiclass" and dm.in_channels == 1
    assert dm.num_features == 784
    sizes = [len(d) for d in (dm.train_dataset, dm.val_dataset, dm.test_dataset)]
    assert sizes == [1200, 300, 297]
    all_idx = torch.cat([dm.train_idx, dm.val_idx, dm.test_idx])
    assert sorted(all_idx.tolist()) == list(range(1797))
    x, y, mask = dm.train_dataset[0]
    assert x.shape == mask.shape == (1, 28, 28) and y.dtype == torch.int64
    assert 0.0 <= float(dm.train_dataset.tensors[0].min())
    assert float(dm.train_dataset.tensors[0].max()) <= 1.0


def test_swatch_is_a_4x4_corner_patch_marked_by_the_mask(dm):
    for dataset in (dm.train_dataset, dm.val_dataset, dm.test_dataset):
        x, _, mask = dataset.tensors
        assert torch.all(mask.sum((1, 2, 3)) == 16)
        m = mask[:, 0]
        corners = torch.stack([m[:, :4, :4].sum((1, 2)), m[:, :4, -4:].sum((1, 2)),
                               m[:, -4:, :4].sum((1, 2)), m[:, -4:, -4:].sum((1, 2))], 1)
        assert torch.all(corners.max(1).values == 16)
        counts = (corners == 16).sum(0)
        assert torch.all(counts > len(x) / 8)  # every corner is used
        swatch = _swatch_values(x, mask)
        assert torch.all(swatch == swatch[:, :1])  # one flat shade per swatch


def test_training_shade_encodes_the_label_and_test_shade_does_not(dm):
    x, y, mask = dm.train_dataset.tensors
    torch.testing.assert_close(_swatch_values(x, mask)[:, 0], (255 - 25 * y.float()) / 255)
    x, y, mask = dm.val_dataset.tensors  # validation follows the training rule by default
    torch.testing.assert_close(_swatch_values(x, mask)[:, 0], decoy_shade(y))
    x, y, mask = dm.test_dataset.tensors
    test_shades = _swatch_values(x, mask)[:, 0]
    agree = (test_shades - decoy_shade(y)).abs().lt(1e-6).float().mean()
    assert float(agree) < 0.25  # random shades: about 1 in 10 matches the label's shade
    assert len(torch.unique(test_shades)) == 10


def test_random_validation_shades_and_no_decoy_baseline(dm):
    rand = DecoyDigitsDataModule(seed=0, val_shade="random")
    x, y, mask = rand.val_dataset.tensors
    agree = (_swatch_values(x, mask)[:, 0] - decoy_shade(y)).abs().lt(1e-6).float().mean()
    assert float(agree) < 0.25
    clean = DecoyDigitsDataModule(seed=0, decoy=False)
    images, labels = load_upsampled_digits()
    for split, ds in (("train", clean.train_dataset), ("test", clean.test_dataset)):
        idx = getattr(clean, f"{split}_idx")
        assert torch.equal(idx, getattr(dm, f"{split}_idx"))  # same split as with decoys
        assert torch.equal(ds.tensors[0], images[idx]) and torch.equal(ds.tensors[1], labels[idx])
        assert ds.tensors[2].sum() == 0
    # Outside the swatch the decoy images are the clean digits.
    x, _, mask = dm.train_dataset.tensors
    assert torch.equal(x * (1 - mask), clean.train_dataset.tensors[0] * (1 - mask))


def test_upsampled_digits_are_the_sklearn_digits():
    from sklearn.datasets import load_digits
    images, labels = load_upsampled_digits(28)
    assert images.shape == (1797, 1, 28, 28)
    assert np.array_equal(labels.numpy(), load_digits().target)
    # Downsampling back by 3.5x (area) recovers the 8x8 digit up to interpolation blur.
    back = torch.nn.functional.interpolate(images, size=(8, 8), mode="area")[:, 0]
    original = torch.from_numpy(load_digits().images / 16.0).float()
    assert float(torch.corrcoef(torch.stack([back.flatten(), original.flatten()]))[0, 1]) > 0.95


def test_seeds_change_the_split_and_bad_arguments():
    a, b = DecoyDigitsDataModule(seed=1), DecoyDigitsDataModule(seed=2)
    assert not torch.equal(a.train_idx, b.train_idx)
    again = DecoyDigitsDataModule(seed=1)
    assert torch.equal(a.train_dataset.tensors[0], again.train_dataset.tensors[0])
    with pytest.raises(ValueError, match="val_shade"):
        DecoyDigitsDataModule(val_shade="test")
    with pytest.raises(ValueError, match="no test images"):
        DecoyDigitsDataModule(n_train=1500, n_val=297)
    with pytest.raises(ValueError, match="patch_size"):
        DecoyDigitsDataModule(patch_size=15)


def _test_accuracy(tmp_path, name, *overrides):
    """experiment=decoy_digits shortened to 15 epochs at lr 3e-3 (final weights are tested)."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=decoy_digits", "seed=0", "trainer.max_epochs=15", "optimizer.lr=3e-3",
            "callbacks=none", "logger=none", "trainer.accelerator=cpu",
            f"paths.output_dir={tmp_path / name}", *overrides])
    return run(cfg)["test/acc"]


def test_decoy_hurts_and_mask_priors_recover(tmp_path, one_thread):
    """The benchmark's ordering on a short run (seeds 0-4 of this configuration showed gaps of
    0.05-0.10; the 60-epoch results are in the README): the decoy lowers test accuracy and every
    mask prior brings it back; RRR close to the no-decoy model."""
    acc = {"clean": _test_accuracy(tmp_path, "clean", "prior=none", "data.decoy=false"),
           "decoy": _test_accuracy(tmp_path, "decoy", "prior=none")}
    for prior in ("rrr", "xg", "eg"):
        acc[prior] = _test_accuracy(tmp_path, prior, f"prior={prior}")
    margin = 0.03
    assert acc["clean"] > acc["decoy"] + margin, acc
    for prior in ("rrr", "xg", "eg"):
        assert acc[prior] > acc["decoy"] + margin, acc
    assert acc["rrr"] > acc["clean"] - margin, acc
