"""ImageNetDataModule on a tiny class-folder tree of real JPEG/PNG files written to disk."""
from __future__ import annotations

import shutil

import pytest
import torch

from image_folder import CLASSES, make_image_folder
from priors.data import ImageNetDataModule
from priors.data.download import DatasetNotFoundError
from priors.data.imagenet import IMAGENET_MEAN, IMAGENET_STD


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("imagenet"), n_train=4, n_val=2)


def _datamodule(root, **kw):
    kw = {"image_size": 32, "resize_size": 40, "batch_size": 5, "num_workers": 0, **kw}
    dm = ImageNetDataModule(root=root, **kw)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_sizes_and_batches(image_root):
    dm = _datamodule(image_root)
    assert dm.classes == sorted(CLASSES) and dm.num_classes == 3
    assert dm.task == "multiclass" and dm.in_channels == 3 and dm.num_features == 3 * 32 * 32
    assert len(dm.train_dataset) == 12 and len(dm.val_dataset) == 6
    assert dm.test_dataset is dm.val_dataset
    batches = list(dm.train_dataloader())
    assert [len(b[1]) for b in batches] == [5, 5, 2]
    x, y = batches[0]
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and set(torch.cat([b[1] for b in batches]).tolist()) == {0, 1, 2}
    assert torch.isfinite(x).all() and x.min() < 0  # normalized: the mean colour maps to 0


def test_eval_transform_is_deterministic_and_normalized(image_root):
    dm = _datamodule(image_root)
    first = torch.cat([x for x, _ in dm.val_dataloader()])
    second = torch.cat([x for x, _ in dm.test_dataloader()])
    assert torch.equal(first, second)
    raw = _datamodule(image_root, normalize=False)
    plain = torch.cat([x for x, _ in raw.val_dataloader()])
    assert 0.0 <= float(plain.min()) and float(plain.max()) <= 1.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(first, (plain - mean) / std)


def test_training_augmentation_is_random(image_root):
    dm = _datamodule(image_root, batch_size=12)
    torch.manual_seed(0)
    a = next(iter(dm.train_dataloader()))
    torch.manual_seed(1)
    b = next(iter(dm.train_dataloader()))
    assert torch.equal(a[1], b[1])  # same seeded shuffling
    assert not torch.equal(a[0], b[0])  # different random crops / flips


def test_worker_processes_and_pin_memory_settings(image_root):
    dm = _datamodule(image_root, num_workers=1, pin_memory=False, drop_last=True)
    loader = dm.train_dataloader()
    assert loader.num_workers == 1 and loader.persistent_workers and not loader.pin_memory
    assert [len(y) for _, y in loader] == [5, 5]  # drop_last drops the incomplete batch
    assert dm.val_dataloader().drop_last is False
    assert ImageNetDataModule(root=image_root).pin_memory == torch.cuda.is_available()


def test_missing_root_gives_clear_error(tmp_path):
    dm = ImageNetDataModule(root=tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError) as err:
        dm.prepare_data()
    message = str(err.value)
    assert "nowhere" in message and "image-net.org" in message and "data.root" in message
    with pytest.raises(FileNotFoundError):
        dm.setup("fit")


def test_missing_val_split_and_mismatched_classes(tmp_path, image_root):
    root = tmp_path / "copy"
    shutil.copytree(image_root / "train", root / "train")
    with pytest.raises(DatasetNotFoundError, match="val"):
        ImageNetDataModule(root=root).prepare_data()
    shutil.copytree(image_root / "val", root / "val")
    shutil.rmtree(root / "val" / CLASSES[0])
    with pytest.raises(ValueError, match="differ"):
        ImageNetDataModule(root=root, num_workers=0).setup("fit")


def test_bad_arguments(image_root):
    with pytest.raises(ValueError, match="resize_size"):
        ImageNetDataModule(root=image_root, image_size=224, resize_size=200)
    with pytest.raises(ValueError, match="batch_size"):
        ImageNetDataModule(root=image_root, batch_size=0)
    with pytest.raises(RuntimeError, match="setup"):
        ImageNetDataModule(root=image_root).num_classes
