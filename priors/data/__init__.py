"""LightningDataModules for the priors library."""

from priors.data.nhanes import NHANESDataModule
from priors.data.synthetic import SyntheticTabularDataModule

__all__ = [
    "NHANESDataModule",
    "SyntheticTabularDataModule",
]
