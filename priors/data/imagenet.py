"""ImageNet (ILSVRC-2012) from a local class-folder tree, as a LightningDataModule.

ImageNet needs registration at https://image-net.org, so nothing is downloaded. Expected
layout (the usual one after extracting the archives and sorting the validation images into
class folders)::

    <root>/train/<wnid>/*.JPEG      e.g. data/imagenet/train/n01440764/n01440764_10026.JPEG
    <root>/val/<wnid>/*.JPEG        e.g. data/imagenet/val/n01440764/ILSVRC2012_val_00000293.JPEG

Any folder tree of that shape works (the tests use a tiny one). The official validation set
serves as the evaluation set for both ``val`` and ``test`` (ImageNet's test labels are not
public), so the ImageNet experiments do not select weights on it.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import ImageFolder

from priors.data.download import DatasetNotFoundError
from priors.data.arguments import check_int as _check_int
from priors.data.files import resolve_data_dir

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImageNetDataModule", "eval_transform",
           "train_transform"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def train_transform(image_size: int = 224, normalize: bool = True) -> transforms.Compose:
    """Standard training augmentation: random-resized crop, horizontal flip, tensor, normalize."""
    steps = [transforms.RandomResizedCrop(image_size), transforms.RandomHorizontalFlip(),
             transforms.ToTensor()]
    if normalize:
        steps.append(transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return transforms.Compose(steps)


def eval_transform(image_size: int = 224, resize_size: int = 256,
                   normalize: bool = True) -> transforms.Compose:
    """Standard evaluation preprocessing: resize the short side, center crop, tensor, normalize."""
    steps = [transforms.Resize(resize_size), transforms.CenterCrop(image_size),
             transforms.ToTensor()]
    if normalize:
        steps.append(transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return transforms.Compose(steps)


class ImageNetDataModule(pl.LightningDataModule):
    """ImageNet-style classification from ``<root>/train`` and ``<root>/val`` class folders.

    Args:
        root: dataset folder; a relative path is tried against the working directory, then the
            repository root.
        image_size: side of the square crops fed to the model (224 for ImageNet models).
        resize_size: short side the evaluation images are resized to before the center crop.
        normalize: subtract the ImageNet channel means and divide by the standard deviations.
            The zero input (the X-Gradient / IG baseline) is then the mean colour.
        batch_size: images per batch (train and evaluation).
        num_workers: DataLoader worker processes (JPEG decoding is CPU-bound).
        pin_memory: page-locked host memory for faster GPU copies; ``None`` = when CUDA exists.
        drop_last: drop the last incomplete training batch.
        seed: seeds the training-loader shuffling.

    Exposes ``train_dataset`` / ``val_dataset`` / ``test_dataset`` (``ImageFolder``),
    ``classes``, ``num_classes``, ``task = "multiclass"``, ``in_channels = 3`` and
    ``num_features`` (``3 * image_size**2``).
    """

    task = "multiclass"
    in_channels = 3

    def __init__(
        self,
        root: str | os.PathLike = "data/imagenet",
        image_size: int = 224,
        resize_size: int = 256,
        normalize: bool = True,
        batch_size: int = 256,
        num_workers: int = 8,
        pin_memory: Optional[bool] = None,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.image_size = _check_int("image_size", image_size, 1)
        self.resize_size = _check_int("resize_size", resize_size, 1)
        if self.resize_size < self.image_size:
            raise ValueError(f"resize_size ({resize_size}) must be >= image_size ({image_size}) "
                             "so that the center crop fits")
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.num_workers = _check_int("num_workers", num_workers, 0)
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        self.drop_last = bool(drop_last)
        self.normalize = bool(normalize)
        self.seed = int(seed)
        self.root = resolve_data_dir(root, required=("train", "val"))
        self.train_dataset: Optional[ImageFolder] = None
        self.val_dataset: Optional[ImageFolder] = None
        self.classes: Sequence[str] = ()

    @property
    def test_dataset(self) -> Optional[ImageFolder]:
        return self.val_dataset

    @property
    def num_classes(self) -> int:
        if not self.classes:
            raise RuntimeError("ImageNetDataModule: call setup() before asking for num_classes")
        return len(self.classes)

    @property
    def num_features(self) -> int:
        return self.in_channels * self.image_size ** 2

    def _check_root(self) -> None:
        missing = [s for s in ("train", "val") if not (self.root / s).is_dir()]
        if missing:
            raise DatasetNotFoundError(
                f"ImageNet not found: {', '.join(str(self.root / s) for s in missing)} "
                f"{'does' if len(missing) == 1 else 'do'} not exist. ImageNet cannot be "
                "downloaded automatically (it needs registration at https://image-net.org). "
                "Extract ILSVRC-2012 so that <root>/train/<wnid>/*.JPEG and "
                "<root>/val/<wnid>/*.JPEG exist (validation images sorted into class folders) "
                "and pass data.root=<root>."
            )

    def prepare_data(self) -> None:
        """Check the folder layout (nothing to download)."""
        self._check_root()

    def setup(self, stage: str | None = None) -> None:
        """Index both splits (idempotent); the class lists of train and val must agree."""
        if self.train_dataset is not None:
            return
        self._check_root()
        train = ImageFolder(str(self.root / "train"),
                            transform=train_transform(self.image_size, self.normalize))
        val = ImageFolder(str(self.root / "val"),
                          transform=eval_transform(self.image_size, self.resize_size,
                                                   self.normalize))
        if train.classes != val.classes:
            only_train = sorted(set(train.classes) - set(val.classes))[:5]
            only_val = sorted(set(val.classes) - set(train.classes))[:5]
            raise ValueError(
                f"class folders of {self.root / 'train'} ({len(train.classes)}) and "
                f"{self.root / 'val'} ({len(val.classes)}) differ (only in train: {only_train}, "
                f"only in val: {only_val}); labels would not match"
            )
        self.train_dataset, self.val_dataset, self.classes = train, val, list(train.classes)

    def _loader(self, dataset: ImageFolder, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("ImageNetDataModule: call setup() before asking for dataloaders")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=train,
            generator=torch.Generator().manual_seed(self.seed) if train else None,
            drop_last=self.drop_last and train,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, False)
