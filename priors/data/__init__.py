"""LightningDataModules for the priors library."""

from priors.data.nhanes import NHANESDataModule
from priors.data.synthetic import SyntheticTabularDataModule
from priors.data.imagenet import ImageNetDataModule
from priors.data.decoy_digits import DecoyDigitsDataModule
from priors.data.csv_table import CSVDataModule
from priors.data.tabular import TabularDataModule
from priors.data.contract import DataModuleContract, check_datamodule

__all__ = [
    "NHANESDataModule",
    "SyntheticTabularDataModule",
    "ImageNetDataModule",
    "DecoyDigitsDataModule",
    "CSVDataModule",
    "TabularDataModule",
    "DataModuleContract",
    "check_datamodule",
]
