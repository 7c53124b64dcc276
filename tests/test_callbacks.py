"""AttributionPrior and PriorCostMonitor on LightningModules that know nothing of priors."""
from __future__ import annotations

import copy
import json
import math
import statistics
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import MulticlassAccuracy

from priors import Prior, PriorModule
from priors.callbacks import AttributionPrior, PriorCostMonitor
from priors.models import MLP
from priors.app import TRAIN_CONF
from threads import single_thread

CONF_DIR = TRAIN_CONF
WEIGHT = 0.5


# --- a user's module: plain PyTorch + Lightning, nothing from priors -----------------------------
class DigitsMLP(pl.LightningModule):
    def __init__(self, hidden=32, bias=False, dropout=0.0, batchnorm=False, lr=1e-2):
        super().__init__()
        layers = [nn.Linear(64, hidden, bias=bias)]
        layers += [nn.BatchNorm1d(hidden)] if batchnorm else []
        layers += [nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        self.net = nn.Sequential(*layers, nn.Linear(hidden, 10, bias=bias))
        self.train_acc = MulticlassAccuracy(10)
        self.lr = lr

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.train_acc.update(logits.detach(), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class FunctionalMLP(DigitsMLP):
    """The one-line functional route: the user adds ``prior(model, x, y)`` to the loss."""

    def __init__(self, prior, **kwargs):
        super().__init__(**kwargs)
        self.prior = prior

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y) + self.prior(self, x, y)
        self.log("train_loss", loss)
        return loss


@pytest.fixture(autouse=True, scope="module")
def one_thread_per_module():
    with single_thread():
        yield


@pytest.fixture(scope="module")
def digits():
    """The first 320 of scikit-learn's bundled 8x8 digits, scaled to [0, 1]: 5 batches of 64."""
    X, y = load_digits(return_X_y=True)
    return TensorDataset(torch.tensor(X[:320] / 16.0, dtype=torch.float32), torch.tensor(y[:320]))


def fit(module, data, callbacks=(), epochs=2, logger=False, **trainer_kwargs):
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=logger,
                         callbacks=list(callbacks), enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False,
                         log_every_n_steps=1, num_sanity_val_steps=0, **trainer_kwargs)
    trainer.fit(module, DataLoader(data, batch_size=64))
    return trainer


def seeded(factory, seed=0):
    pl.seed_everything(seed, verbose=False)
    return factory()


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def csv_metrics(logger: CSVLogger) -> pd.DataFrame:
    return pd.read_csv(Path(logger.log_dir) / "metrics.csv")


# --- AttributionPrior ----------------------------------------------------------------------------
def test_callback_on_vanilla_module_equals_prior_module(digits, tmp_path):
    user = seeded(DigitsMLP)
    init = copy.deepcopy(user.net)
    csv = CSVLogger(tmp_path, name="csv")
    tb = TensorBoardLogger(tmp_path, name="tb")
    monitor = PriorCostMonitor(every_n_steps=2, warmup_steps=1)
    trainer = fit(user, digits, [AttributionPrior("xg", "gini", weight=WEIGHT), monitor],
                  logger=[csv, tb])

    # The logged loss is the user's task loss plus weight * penalty, step by step.
    rows = csv_metrics(csv).dropna(subset=["train/loss_with_prior_step"])
    assert len(rows) == trainer.global_step == 10
    expected = rows["train/task_loss_step"] + WEIGHT * rows["train/prior_step"]
    assert (rows["train/loss_with_prior_step"] - expected).abs().max() < 1e-6
    assert (rows["train/task_loss_step"] - rows["train_loss"]).abs().max() < 1e-6
    assert (rows["train/prior_step"] < 0).all()  # minus a Gini coefficient
    assert "training_step" not in user.__dict__  # the wrapper is gone after fit

    # The prior changed training...
    plain = copy.deepcopy(init)
    vanilla = DigitsMLP()
    vanilla.net = plain
    fit(vanilla, digits)
    assert max((a - b).abs().max() for a, b in zip(params(user.net), params(plain))) > 1e-3

    # ...exactly as PriorModule trains with the same prior and initial weights.
    ours = PriorModule(copy.deepcopy(init), Prior("xg", "gini", WEIGHT), task="multiclass",
                       num_classes=10, optimizer=partial(torch.optim.Adam, lr=1e-2))
    fit(ours, digits)
    for a, b in zip(params(user.net), params(ours.model)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    # Both loggers got the cost metrics and the end-of-fit summary.
    columns = set(csv_metrics(csv).columns)
    assert {"prior_cost/step_ms", "prior_cost/prior_ms_step", "prior_cost/baseline_ms_step",
            "prior_cost/ratio_step", "prior_cost/ratio_epoch", "prior_cost/overhead_ms_step",
            "prior_cost/prior_share", "prior_cost/rss_mb", "prior_cost/mean_ratio"} <= columns
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(tb.log_dir)
    events.Reload()
    assert {"prior_cost/mean_ratio", "prior_cost/step_ms", "train/prior_step"} <= set(events.Tags()["scalars"])
    assert monitor.summary()["prior_cost/n_baseline"] == 6  # steps 1, 2, 3 and every 2nd after


def test_functional_route_from_a_user_module_equals_prior_module(digits):
    user = seeded(lambda: FunctionalMLP(Prior("xg", "gini", WEIGHT)))
    init = copy.deepcopy(user.net)
    fit(user, digits, epochs=1)
    ours = PriorModule(init, Prior("xg", "gini", WEIGHT), task="multiclass", num_classes=10,
                       optimizer=partial(torch.optim.Adam, lr=1e-2))
    fit(ours, digits, epochs=1)
    for a, b in zip(params(user.net), params(ours.model)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("route, forwards_per_step", [
    ("callback_xg", 1),   # the step's own forward serves the attribution
    ("callback_eg", 2),   # plus Expected Gradients' batched forward at the reference points
    ("functional_xg", 2),  # prior(model, x, y) runs its own forward
])
def test_forward_passes_per_step(digits, route, forwards_per_step):
    if route == "functional_xg":
        module, callbacks = FunctionalMLP(Prior("xg", "gini", WEIGHT)), []
    else:
        module, callbacks = DigitsMLP(), [AttributionPrior(route[-2:], "gini", weight=WEIGHT)]
    calls = []
    # Count training forwards; the one-off homogeneity check runs without gradients.
    module.net.register_forward_hook(
        lambda m, i, o: calls.append(1) if m.training and torch.is_grad_enabled() else None)
    trainer = fit(module, digits, callbacks, epochs=1)
    assert trainer.global_step == 5
    assert len(calls) == forwards_per_step * trainer.global_step


def test_callback_adds_the_prior_when_the_model_is_pinned(digits):
    class Scaled(DigitsMLP):  # transforms x before the model: automatic capture cannot see it
        def training_step(self, batch, batch_idx):
            x, y = batch
            return F.cross_entropy(self.net(2.0 * x), y)

    with pytest.raises(RuntimeError, match="never called"):
        fit(Scaled(), digits, [AttributionPrior("xg", "gini")], epochs=1)
    prior = AttributionPrior("xg", "gini", model="net")
    fit(Scaled(), digits, [prior], epochs=1)
    assert prior.last["prior"] < 0


def test_callback_fails_clearly_where_it_cannot_work(digits):
    class Manual(DigitsMLP):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

    class NoLoss(DigitsMLP):
        def training_step(self, batch, batch_idx):
            self(batch[0])

    with pytest.raises(RuntimeError, match="manual optimization"):
        fit(Manual(), digits, [AttributionPrior("xg", "gini")], epochs=1)
    with pytest.raises(RuntimeError, match="must return the loss"):
        fit(NoLoss(), digits, [AttributionPrior("xg", "gini")], epochs=1)
    with pytest.raises(TypeError, match="input x must be a tensor"):
        fit(DigitsMLP(), digits, [AttributionPrior("xg", "gini", batch_fn=lambda b: (b[0].tolist(), b[1]))],
            epochs=1)
    with pytest.raises(RuntimeError, match="already trains with its own prior"):
        fit(PriorModule(MLP(64, (8,), 10, bias=False), Prior("xg"), task="multiclass", num_classes=10),
            digits, [AttributionPrior("xg", "gini")], epochs=1)
    with pytest.raises(ValueError, match="no such submodule"):
        fit(DigitsMLP(), digits, [AttributionPrior("xg", "gini", model="encoder")], epochs=1)
    with pytest.raises(Exception, match="nonnegatively homogeneous"):
        fit(DigitsMLP(bias=True), digits, [AttributionPrior("xg", "gini")], epochs=1)


# --- PriorCostMonitor ----------------------------------------------------------------------------
def test_monitor_leaves_prior_module_weights_bit_identical(digits, tmp_path):
    def make():
        model = MLP(64, hidden=(32,), out_features=10, dropout=0.3)  # dropout: RNG-dependent
        return PriorModule(model, Prior("eg", "gini", WEIGHT), task="multiclass", num_classes=10)

    plain = seeded(make)
    fit(plain, digits)
    csv = CSVLogger(tmp_path, name="csv")
    monitor = PriorCostMonitor(every_n_steps=1, warmup_steps=0)
    watched = seeded(make)
    fit(watched, digits, [monitor], logger=csv)
    assert all(torch.equal(a, b) for a, b in zip(params(plain), params(watched)))
    assert monitor.summary()["prior_cost/n_baseline"] == 10
    # The baseline really is unregularized: same weights, batch and dropout mask as the step,
    # so its loss is the step's task loss, not the step's total loss.
    rows = csv_metrics(csv).dropna(subset=["prior_cost/baseline_loss_step"])
    assert len(rows) == 10
    assert (rows["prior_cost/baseline_loss_step"] - rows["train/task_loss_step"]).abs().max() < 1e-6
    assert (rows["prior_cost/baseline_loss_step"] - rows["train/loss_step"]).abs().min() > 1e-4


def test_monitor_leaves_user_module_state_bit_identical(digits):
    """BatchNorm statistics, dropout RNG, a torchmetrics state and EG sampling all restored."""
    def run(callbacks):
        module = seeded(lambda: DigitsMLP(bias=True, dropout=0.3, batchnorm=True))
        fit(module, digits, [AttributionPrior("eg", "gini", weight=WEIGHT), *callbacks], epochs=1)
        return module

    plain, watched = run([]), run([PriorCostMonitor(every_n_steps=1, warmup_steps=0)])
    for (name, a), b in zip(plain.state_dict().items(), watched.state_dict().values()):
        assert torch.equal(a, b), name
    # Only the task's forward updates BatchNorm statistics, not EG's forward at the references.
    assert plain.net[1].num_batches_tracked == 5
    assert torch.equal(plain.train_acc.compute(), watched.train_acc.compute())


@pytest.mark.parametrize("method", ["xg", "eg"])
def test_monitor_ratio_exceeds_one(digits, tmp_path, method):
    module = seeded(lambda: DigitsMLP(hidden=256))
    csv = CSVLogger(tmp_path, name="csv")
    monitor = PriorCostMonitor(every_n_steps=1, warmup_steps=1)
    fit(module, digits, [AttributionPrior(method, "gini", weight=WEIGHT), monitor], logger=csv)
    rows = csv_metrics(csv).dropna(subset=["prior_cost/ratio_step"])
    assert len(rows) == 9
    ratio = rows["prior_cost/prior_ms_step"] / rows["prior_cost/baseline_ms_step"]
    # Logged in float32: compare relatively (ratios reach ~20 on a loaded machine).
    assert ((ratio - rows["prior_cost/ratio_step"]).abs() / ratio).max() < 1e-6
    # Medians, not means: one preempted replay on a busy machine must not decide the test.
    assert statistics.median(rows["prior_cost/ratio_step"]) > 1.0
    summary = monitor.summary()
    assert summary["prior_cost/median_ratio"] > 1.0
    assert summary["prior_cost/n_baseline"] == 9 and summary["prior_cost/mean_ratio"] > 0


def test_monitor_without_a_prior_measures_the_step_itself(digits):
    class SkipsABatch(DigitsMLP):  # Lightning skips a batch whose step returns None
        def training_step(self, batch, batch_idx):
            return None if batch_idx == 2 else super().training_step(batch, batch_idx)

    monitor = PriorCostMonitor(every_n_steps=1, warmup_steps=0)
    with pytest.warns(UserWarning, match="no prior that the monitor knows"):
        fit(seeded(SkipsABatch), digits, [monitor], epochs=1)
    summary = monitor.summary()
    assert summary["prior_cost/n_baseline"] == summary["prior_cost/n_steps"] == 4


def test_monitor_refuses_manual_optimization_unless_timing_only(digits):
    class Manual(DigitsMLP):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            opt = self.optimizers()
            opt.zero_grad()
            loss = F.cross_entropy(self(batch[0]), batch[1])
            self.manual_backward(loss)
            opt.step()

    with pytest.raises(RuntimeError, match="every_n_steps=0"):
        fit(Manual(), digits, [PriorCostMonitor()], epochs=1)
    monitor = PriorCostMonitor(every_n_steps=0, warmup_steps=0)
    fit(Manual(), digits, [monitor], epochs=1)
    summary = monitor.summary()
    assert summary["prior_cost/n_steps"] == 5 and "prior_cost/mean_ratio" not in summary


# --- Hydra -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", [
    ["prior=xg", "callbacks=cost"],
    ["prior=none", "model=xmlp", "callbacks=[cost,attribution_prior]",
     "callbacks.attribution_prior.method=xg"],
])
def test_train_config_logs_cost_metrics_to_csv(tmp_path, overrides):
    from hydra import compose, initialize_config_dir

    from priors.pipeline import run

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[
            *overrides, "data=synthetic", "data.n_samples=400", "data.task=multiclass",
            "+data.num_classes=3", "model.hidden=[32]",
            "trainer.max_epochs=2", "trainer.accelerator=cpu", "trainer.log_every_n_steps=2",
            "trainer.enable_progress_bar=false", f"paths.output_dir={tmp_path}", "test=false"])
    run(cfg)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "ok"
    assert result["metrics"]["prior_cost/mean_ratio"] > 0
    assert math.isfinite(result["metrics"]["prior_cost/mean_step_ms"])
    metrics = pd.read_csv(next(tmp_path.glob("csv/version_*/metrics.csv")))
    assert metrics["prior_cost/step_ms"].notna().sum() >= 4
    assert metrics["prior_cost/ratio_step"].notna().sum() >= 2
    assert metrics["train/prior_weighted_step"].notna().sum() >= 4
