"""Prior (method + penalty + weight) and PriorModule training with Lightning."""
from __future__ import annotations

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from priors import NonHomogeneousError, Prior, PriorModule
from priors.attributions import ReferenceSampler, gradient, input_x_gradient
from priors.data import SyntheticTabularDataModule
from priors.models import MLP
from priors.penalties import gini_penalty, l1_penalty
from priors.prior import make_prior

PRIORS = ["none", "xg", "grad", "rrr", "eg"]


def _trainer(**kw) -> pl.Trainer:
    opts = dict(max_epochs=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                enable_model_summary=False, accelerator="cpu", devices=1, limit_val_batches=0,
                num_sanity_val_steps=0)
    opts.update(kw)
    return pl.Trainer(**opts)


def _module(method: str, n_features: int = 6, weight: float = 0.5, **kw) -> PriorModule:
    torch.manual_seed(0)
    model = MLP(n_features, hidden=(8, 4), bias=method != "xg", out_features=kw.pop("out", 1))
    return PriorModule(model, make_prior(method, "gini", weight), **kw)


def _datamodule(**kw) -> SyntheticTabularDataModule:
    opts = dict(n_samples=150, n_features=6, n_relevant=2, batch_size=32, seed=0)
    opts.update(kw)
    return SyntheticTabularDataModule(**opts)


# ----------------------------------------------------------------------------- Prior


def test_unknown_method_lists_choices():
    with pytest.raises(ValueError, match="unknown attribution prior method 'shap'") as err:
        Prior("shap")
    for choice in ("'none'", "'xg'", "'eg'", "'rrr'", "'grad'"):
        assert choice in str(err.value)


def test_make_prior():
    assert make_prior("none") is None
    prior = make_prior("expected_gradients", "l1", 0.3, k=4)
    assert isinstance(prior, Prior) and prior.method == "eg" and prior.k == 4
    with pytest.raises(ValueError, match="nonnegative"):
        make_prior("xg", weight=-1.0)
    with pytest.raises(ValueError, match="unknown penalty"):
        make_prior("xg", penalty="l7")


def test_xg_prior_refuses_biased_mlp_naming_layer():
    model = MLP(5, hidden=(4,))
    with pytest.raises(NonHomogeneousError, match=r"net\.1"):
        PriorModule(model, Prior("xg"))
    with pytest.raises(NonHomogeneousError, match=r"net\.1"):
        Prior("xg")(model, torch.randn(4, 5))


def test_prior_value_matches_its_parts():
    torch.manual_seed(0)
    model = MLP(5, hidden=(6,), out_features=3, bias=False).double()
    x = torch.randn(8, 5, dtype=torch.float64)
    y = torch.randint(3, (8,))
    out = Prior("xg", "l1", weight=0.25).compute(model, x, y)
    torch.testing.assert_close(out.outputs, model(x))
    expected_attr = input_x_gradient(model, x, y)  # target="label": the label's logit
    torch.testing.assert_close(out.attributions, expected_attr)
    torch.testing.assert_close(out.penalty, l1_penalty(expected_attr))
    torch.testing.assert_close(out.weighted, 0.25 * out.penalty)
    pred = Prior("grad", "gini", target="pred").compute(model, x, y)
    torch.testing.assert_close(pred.penalty, gini_penalty(gradient(model, x, model(x).argmax(1))))


def test_eg_prior_needs_references():
    model = MLP(5, hidden=(4,))
    with pytest.raises(ValueError, match="needs references"):
        Prior("eg")(model, torch.randn(4, 5))


# ----------------------------------------------------------------------------- PriorModule


class CountForwards(pl.Callback):
    """Forward calls of the wrapped model per training batch."""

    def __init__(self, model: torch.nn.Module):
        self.calls, self.per_batch = 0, []
        model.register_forward_hook(lambda *_: setattr(self, "calls", self.calls + 1))

    def on_train_batch_start(self, *_):
        self.calls = 0

    def on_train_batch_end(self, *_):
        self.per_batch.append(self.calls)


@pytest.mark.parametrize("method, forwards", [("none", 1), ("xg", 1), ("grad", 1), ("rrr", 1),
                                              ("eg", 2)])
def test_forward_passes_per_training_step(method, forwards):
    module = _module(method)
    counter = CountForwards(module.model)
    _trainer(max_steps=3, callbacks=[counter]).fit(module, datamodule=_datamodule())
    assert len(counter.per_batch) == 3
    assert counter.per_batch[1:] == [forwards, forwards]
    # xg checks f(a x) == a f(x) once per model, on the first batch only (extra forwards there).
    if method == "xg":
        assert counter.per_batch[0] > forwards
    else:
        assert counter.per_batch[0] == forwards


def test_logged_loss_is_task_loss_plus_weighted_prior(tmp_path):
    torch.manual_seed(1)
    x = torch.randn(96, 6)
    y = (x[:, 0] - x[:, 1] > 0).float()
    weight = 0.7
    module = _module("grad", weight=weight)
    logger = pl.loggers.CSVLogger(tmp_path, name="run")
    trainer = _trainer(max_epochs=2, logger=logger, log_every_n_steps=1)
    trainer.fit(module, train_dataloaders=DataLoader(TensorDataset(x, y), batch_size=32))
    df = pd.read_csv(f"{logger.log_dir}/metrics.csv")
    for suffix in ("_step", "_epoch"):
        rows = df.dropna(subset=[f"train/loss{suffix}"])
        assert len(rows) == (6 if suffix == "_step" else 2)
        loss, task, prior, weighted = (rows[f"train/{k}{suffix}"].to_numpy()
                                       for k in ("loss", "task_loss", "prior", "prior_weighted"))
        assert abs(loss - (task + weight * prior)).max() < 1e-6
        assert abs(weighted - weight * prior).max() < 1e-6
        assert (prior < -1e-3).all()  # Gini penalty of a non-constant attribution
    m = trainer.callback_metrics
    assert float(m["train/loss_epoch"]) == pytest.approx(
        float(m["train/task_loss_epoch"]) + weight * float(m["train/prior_epoch"]), abs=1e-6)


@pytest.mark.parametrize("method", ["none", "xg"])
def test_nan_batch_is_rejected(method):
    x = torch.randn(64, 6)
    x[40, 3] = float("nan")
    loader = DataLoader(TensorDataset(x, (x[:, 0] > 0).float()), batch_size=32)
    with pytest.raises(ValueError, match="non-finite"):
        _trainer().fit(_module(method), train_dataloaders=loader)


@pytest.mark.parametrize("method", ["none", "xg", "eg"])
def test_wrong_label_shape_is_rejected(method):
    x = torch.randn(32, 6)
    loader = DataLoader(TensorDataset(x, (x[:, :1] > 0).float()), batch_size=16)  # (B, 1)
    with pytest.raises(ValueError, match=r"labels \(16, 1\)"):
        _trainer().fit(_module(method), train_dataloaders=loader)


def test_multiclass_label_shape_is_rejected():
    x = torch.randn(32, 6)
    onehot = torch.nn.functional.one_hot(torch.randint(3, (32,)), 3)
    loader = DataLoader(TensorDataset(x, onehot), batch_size=16)
    module = _module("grad", out=3, task="multiclass", num_classes=3)
    with pytest.raises(ValueError, match="shape"):
        _trainer().fit(module, train_dataloaders=loader)


def _params(module):
    return [p.detach().clone() for p in module.model.parameters()]


@pytest.mark.parametrize("method", PRIORS)
def test_training_with_each_prior_changes_parameters(method):
    dm = _datamodule()
    module = _module(method, weight=1.0)
    before = _params(module)
    _trainer().fit(module, datamodule=dm)
    after = _params(module)
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    if method == "none":
        return
    # Same seed and data without the prior: the prior's gradient must have moved the weights.
    plain = PriorModule(MLP(6, hidden=(8, 4), bias=method != "xg"))
    plain.model.load_state_dict(dict(zip(
        [n for n, _ in plain.model.named_parameters()], before)))
    torch.manual_seed(0)
    _trainer().fit(plain, datamodule=_datamodule())
    diff = max(float((a - b).abs().max()) for a, b in zip(after, _params(plain)))
    assert diff > 1e-5


def test_multiclass_training_with_eg():
    dm = _datamodule(task="multiclass", num_classes=3)
    module = _module("eg", out=3, task="multiclass", num_classes=3)
    before = _params(module)
    _trainer().fit(module, datamodule=dm)
    assert any(not torch.equal(a, b) for a, b in zip(before, _params(module)))


def test_eg_references_come_from_train_dataset():
    dm = _datamodule()
    module = _module("eg")
    _trainer(max_steps=1).fit(module, datamodule=dm)
    assert isinstance(module.references, ReferenceSampler)
    assert module.references.dataset is dm.train_dataset
    train_x = dm.train_dataset.tensors[0]
    drawn = module.references(20)
    assert all((train_x == row).all(1).any() for row in drawn)
