"""The written datamodule contract (priors.data.contract) and its check in the pipeline."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch.utils.data import DataLoader, TensorDataset

from priors.data import DecoyDigitsDataModule, NHANESDataModule, SyntheticTabularDataModule
from priors.data.contract import DataModuleContract, check_datamodule
from priors.pipeline import build
from priors.app import TRAIN_CONF

CONF = str(TRAIN_CONF)


class NoTask:
    """A datamodule that forgot ``task`` and its input size (used through Hydra below)."""

    def __init__(self):
        self.num_classes = 1
        self.train_dataset = self.val_dataset = self.test_dataset = TensorDataset(
            torch.randn(8, 3), torch.ones(8))

    def prepare_data(self):
        pass

    def setup(self, stage=None):
        pass

    def train_dataloader(self):
        return DataLoader(self.train_dataset, batch_size=4)

    val_dataloader = test_dataloader = train_dataloader


class IntBinaryLabels(NoTask):
    """Binary task with int64 labels: BCE would fail later with a cryptic dtype error."""

    task = "binary"
    num_features = 3

    def __init__(self):
        super().__init__()
        self.train_dataset = TensorDataset(torch.randn(8, 3), torch.ones(8, dtype=torch.long))


@pytest.mark.parametrize("make", [
    lambda d: SyntheticTabularDataModule(n_samples=60),
    lambda d: SyntheticTabularDataModule(n_samples=90, task="multiclass", num_classes=3),
    lambda d: NHANESDataModule(data_dir=d, split="small_data"),
    lambda d: DecoyDigitsDataModule(n_train=100, n_val=50),
])
def test_shipped_datamodules_satisfy_the_contract(make, nhanes_dir):
    dm = make(nhanes_dir)
    dm.prepare_data()
    dm.setup("fit")
    assert isinstance(dm, DataModuleContract)
    check_datamodule(dm, need_test=True)
    x, y, *rest = next(iter(dm.train_dataloader()))
    assert y.dtype == (torch.float32 if dm.task == "binary" else torch.int64)
    if dm.task == "binary":
        assert set(y.unique().tolist()) <= {0.0, 1.0} and dm.num_classes == 1


def test_check_names_what_is_missing_and_bad_dtypes():
    with pytest.raises(TypeError) as info:
        check_datamodule(NoTask())
    assert "missing task, num_features or in_channels" in str(info.value)
    assert not isinstance(object(), DataModuleContract)
    with pytest.raises(TypeError, match="needs a float .0/1. label.*torch.int64"):
        check_datamodule(IntBinaryLabels())
    bad = IntBinaryLabels()
    bad.task = "regression"
    with pytest.raises(ValueError, match="task must be one of"):
        check_datamodule(bad)
    bad.task, bad.num_classes = "multiclass", 1
    with pytest.raises(ValueError, match="needs num_classes an integer >= 2"):
        check_datamodule(bad)


def test_pipeline_build_rejects_a_datamodule_without_task(tmp_path):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=[
            f"paths.output_dir={tmp_path}", "logger=none", "~data",
            "+data._target_=test_data_contract.NoTask"])
    with pytest.raises(TypeError, match="NoTask does not satisfy the datamodule contract.*task"):
        build(cfg)
