"""AttributionShare: |attribution| share on a feature mask, exact on a linear model."""
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from priors.callbacks import KeepBestWeights
from priors.callbacks.attribution_share import AttributionShare
from priors.data import SyntheticTabularDataModule
from priors.models import MLP
from priors.module import PriorModule


@pytest.fixture
def data():
    dm = SyntheticTabularDataModule(n_samples=300, n_features=6, n_relevant=2, seed=0)
    dm.setup("fit")
    return dm


def linear(weights):
    model = nn.Linear(len(weights), 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([weights]))
    return model


@pytest.mark.parametrize("method", ["ig", "xg"])
def test_share_is_exact_on_a_linear_model(data, method):
    w = [2.0, -1.0, 0.5, 0.0, 0.25, -0.5]
    # IG from a zero baseline and input x gradient both equal w * x for a bias-free linear model.
    x = data.test_dataset.tensors[0]
    a = (x * torch.tensor(w)).abs()
    expected = float(a[:, data.relevant_mask].sum() / a.sum())
    steps = {"n_steps": 4} if method == "ig" else {}  # xg has no hyperparameters
    cb = AttributionShare(mask="relevant_mask", method=method, batch_size=7, **steps)
    out = cb.compute(data, linear(w))
    assert out["attr_share/relevant"] == pytest.approx(expected, rel=1e-5)
    assert out["attr_share/relevant_uniform"] == pytest.approx(2 / 6)
    ignores = cb.compute(data, linear([1.0, 1.0, 0.0, 0.0, 0.0, 0.0]))
    assert ignores["attr_share/relevant"] == pytest.approx(1.0)


def test_subsample_and_eg_stay_close(data):
    w = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    full = AttributionShare(mask="relevant_mask", method="ig").compute(data, linear(w))
    sub = AttributionShare(mask="relevant_mask", method="ig", max_examples=30)
    sub = sub.compute(data, linear(w))
    eg = AttributionShare(mask="relevant_mask", method="eg", k=64).compute(data, linear(w))
    assert abs(sub["attr_share/relevant"] - full["attr_share/relevant"]) < 0.1
    # EG on a linear model: w * (x - E[ref]); training mean ~ 0 here, so close to IG.
    assert eg["attr_share/relevant"] == pytest.approx(full["attr_share/relevant"], abs=0.05)


def test_summary_after_fit_lands_on_selected_weights(data):
    share = AttributionShare(mask="relevant_mask", method="xg")
    keep = KeepBestWeights(score_initial=True)
    torch.manual_seed(0)
    module = PriorModule(MLP(6, hidden=(8,), bias=False))
    trainer = pl.Trainer(max_epochs=2, callbacks=[share, keep], logger=False, accelerator="cpu",
                         enable_progress_bar=False, enable_checkpointing=False,
                         enable_model_summary=False)
    assert share.summary() == {}
    trainer.fit(module, datamodule=data)
    out = share.summary()
    # share listed before keep_best: computed lazily, so on the restored best weights anyway.
    assert out == pytest.approx(share.compute(data, module.model))
    assert 0.0 < out["attr_share/relevant"] < 1.0


def test_clear_errors(data):
    with pytest.raises(ValueError, match="unknown attribution method"):
        AttributionShare(method="shap")
    with pytest.raises(AttributeError, match="no 'irrelevant_mask'"):
        AttributionShare().compute(data, linear([1.0] * 6))
    data.relevant_mask = torch.ones(3, dtype=torch.bool)
    with pytest.raises(ValueError, match="shape"):
        AttributionShare(mask="relevant_mask").compute(data, linear([1.0] * 6))
