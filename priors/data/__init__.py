"""LightningDataModules for the priors library."""

from priors.data.nhanes import NHANESDataModule
from priors.data.synthetic import SyntheticTabularDataModule
from priors.data.imagenet import ImageNetDataModule
from priors.data.decoy_digits import DecoyDigitsDataModule

__all__ = [
    "NHANESDataModule",
    "SyntheticTabularDataModule",
    "ImageNetDataModule",
    "DecoyDigitsDataModule",
]
