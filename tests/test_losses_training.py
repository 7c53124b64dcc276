"""Explanation losses through PriorModule, the AttributionPrior callback and the Hydra configs."""
from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from priors import PriorModule
from priors.callbacks import AttributionPrior
from priors.data.decoy_mnist import DecoyMNISTDataModule
from priors.losses import LossPrior, available_losses
from priors.models.small_cnn import SmallCNN

CONF = Path(__file__).resolve().parents[1] / "priors" / "app" / "conf" / "train"


def _trainer(**kw):
    return pl.Trainer(max_steps=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, **kw)


@pytest.fixture(scope="module")
def decoy():
    return DecoyMNISTDataModule(n_train=64, n_val=32, batch_size=32, seed=0)


@pytest.mark.parametrize("name", [n for n in available_losses() if n != "robustvit"])
def test_every_loss_trains_in_prior_module(name, decoy, one_thread):
    torch.manual_seed(0)
    model = SmallCNN(1, 10, 28, channels=(4, 8), hidden=16)
    before = [p.detach().clone() for p in model.parameters()]
    module = PriorModule(model, LossPrior(name, 1.0), task="multiclass", num_classes=10)
    trainer = _trainer()
    trainer.fit(module, datamodule=decoy)
    assert torch.isfinite(trainer.callback_metrics["train/prior"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


class PlainClassifier(pl.LightningModule):
    """Knows nothing of priors."""

    def __init__(self):
        super().__init__()
        self.net = SmallCNN(1, 10, 28, channels=(4, 8), hidden=16)

    def training_step(self, batch, batch_idx):
        x, y, _ = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), 1e-3)


@pytest.mark.parametrize("name", ["cdep", "gradmask", "counterexamples"])
def test_attribution_prior_callback_runs_a_loss(name, decoy, one_thread):
    torch.manual_seed(0)
    prior = LossPrior(name, 2.0)
    callback = AttributionPrior(prior)
    trainer = _trainer(callbacks=[callback])
    trainer.fit(PlainClassifier(), datamodule=decoy)
    last = callback.last
    assert float(last["prior"]) > 0
    torch.testing.assert_close(last["loss"], last["task_loss"] + 2.0 * last["prior"])


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "prior").glob("*.yaml")
                                        if p.stem in available_losses()))
def test_each_loss_has_a_config_that_instantiates(name):
    with initialize_config_dir(str(CONF), version_base=None):
        cfg = compose("train", overrides=["experiment=decoy_mnist", f"prior={name}"])
    prior = instantiate(cfg.prior)
    assert isinstance(prior, LossPrior) and prior.method == name
    assert cfg.model.bias is True  # the losses train ordinary (biased) models
    assert set(available_losses()) <= {p.stem for p in (CONF / "prior").glob("*.yaml")}
