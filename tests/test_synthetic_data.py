"""Tests for the synthetic tabular datamodule."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.linear_model import LogisticRegression

from priors.data import SyntheticTabularDataModule


def _arrays(ds):
    x, y = ds.tensors
    return x.numpy(), y.numpy()


def test_shapes_and_attributes():
    dm = SyntheticTabularDataModule()
    sizes = [len(d) for d in (dm.train_dataset, dm.val_dataset, dm.test_dataset)]
    assert sizes == [600, 200, 200]
    idx = np.concatenate([dm.train_idx, dm.val_idx, dm.test_idx])
    assert len(np.unique(idx)) == 1000
    x, y = dm.train_dataset.tensors
    assert x.shape == (600, 20) and x.dtype == torch.float32
    assert y.shape == (600,) and y.dtype == torch.float32 and set(y.unique().tolist()) == {0.0, 1.0}
    assert 0.3 < y.mean().item() < 0.7
    assert dm.task == "binary" and dm.num_classes == 1 and dm.num_features == 20
    assert dm.feature_names[:2] == ["x0", "x1"] and len(dm.feature_names) == 20
    assert dm.relevant_mask.dtype == torch.bool and dm.relevant_mask.tolist() == [True] * 4 + [False] * 16
    assert dm.weights.shape == (4,) and (dm.weights.abs() >= 0.5).all()


def test_deterministic_per_seed():
    a, b, c = (SyntheticTabularDataModule(seed=s) for s in (0, 0, 1))
    for name in ("train_dataset", "val_dataset", "test_dataset"):
        for ta, tb in zip(getattr(a, name).tensors, getattr(b, name).tensors):
            assert torch.equal(ta, tb)
    assert not torch.equal(a.train_dataset.tensors[0], c.train_dataset.tensors[0])
    assert torch.equal(next(iter(a.train_dataloader()))[0], next(iter(b.train_dataloader()))[0])


def test_binary_learnable_and_only_relevant_features_matter():
    dm = SyntheticTabularDataModule()
    xtr, ytr = _arrays(dm.train_dataset)
    xte, yte = _arrays(dm.test_dataset)
    clf = LogisticRegression(max_iter=1000).fit(xtr, ytr)
    assert clf.score(xte, yte) > 0.9
    coef = np.abs(clf.coef_[0])
    assert coef[:4].min() > 3 * coef[4:].max()


def test_multiclass():
    dm = SyntheticTabularDataModule(task="multiclass", num_classes=3, n_samples=1500)
    assert dm.num_classes == 3 and dm.task == "multiclass"
    xtr, ytr = _arrays(dm.train_dataset)
    xte, yte = _arrays(dm.test_dataset)
    assert ytr.dtype == np.int64 and set(np.unique(ytr)) == {0, 1, 2}
    assert dm.weights.shape == (4, 3)
    clf = LogisticRegression(max_iter=2000).fit(xtr, ytr)
    assert clf.score(xte, yte) > 0.85


def test_full_batch_and_loaders():
    dm = SyntheticTabularDataModule(batch_size=None)
    assert [len(list(f())) for f in (dm.train_dataloader, dm.val_dataloader, dm.test_dataloader)] == [1, 1, 1]
    assert next(iter(dm.train_dataloader()))[0].shape == (600, 20)
    dm = SyntheticTabularDataModule(batch_size=64)
    assert len(list(dm.train_dataloader())) == 10
    assert torch.equal(next(iter(dm.val_dataloader()))[0], dm.val_dataset.tensors[0][:64])


def test_trains_with_lightning(tmp_path):
    dm = SyntheticTabularDataModule(n_samples=300, batch_size=32)

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(dm.num_features, 1)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.binary_cross_entropy_with_logits(self.net(x).squeeze(-1), y)

        def validation_step(self, batch, _):
            pass

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = pl.Trainer(
        fast_dev_run=2, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )
    trainer.fit(Tiny(), datamodule=dm)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"n_relevant": 21}, ValueError),
        ({"n_relevant": 0}, ValueError),
        ({"task": "regression"}, ValueError),
        ({"task": "multiclass", "num_classes": 1}, ValueError),
        ({"task": "binary", "num_classes": 3}, ValueError),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, ValueError),
        ({"noise": -1.0}, ValueError),
        ({"n_samples": 10.5}, TypeError),
    ],
)
def test_invalid_arguments(kwargs, exc):
    with pytest.raises(exc):
        SyntheticTabularDataModule(**kwargs)
