"""Acceptance: on Decoy-MNIST-5k, RRR and new losses recover test accuracy over the unregularized
model (15 epochs, 2 seeds, PriorModule + Lightning, best validation epoch kept; validation from
the training distribution). Slow: about 10 runs of the small CNN on one thread."""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from priors import Prior, PriorModule
from priors.callbacks import KeepBestWeights
from priors.data.decoy_mnist import DecoyMNISTDataModule
from priors.losses import LossPrior
from priors.models.small_cnn import SmallCNN

SEEDS = (0, 1)
EPOCHS = 15
# Weights as first chosen (RRR's from experiment=decoy_digits, the losses' defaults in
# conf/prior), not tuned on the test set. CDEP (0.806 vs 0.773 on seed 0) is left out: its
# step costs 4x the unregularized one.
PRIORS = {
    "none": lambda: None,
    "rrr": lambda: Prior("rrr", "masked_l2", 10.0),
    "gradmask": lambda: LossPrior("gradmask", 10.0),
    "counterexamples": lambda: LossPrior("counterexamples", 1.0),
}
MARGIN = 0.05  # mean test accuracy over the seeds must beat the unregularized mean by this


def _test_accuracy(name: str, seed: int) -> float:
    pl.seed_everything(seed, workers=True)
    dm = DecoyMNISTDataModule(n_train=1000, n_val=500, seed=seed)
    torch.manual_seed(seed)
    model = SmallCNN(1, 10, 28, channels=(8, 16), hidden=32)
    module = PriorModule(model, PRIORS[name](), task="multiclass", num_classes=10, lr=1e-3)
    trainer = pl.Trainer(max_epochs=EPOCHS, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0,
                         callbacks=[KeepBestWeights(monitor="val/acc", mode="max")])
    trainer.fit(module, datamodule=dm)
    return module.score(dm.test_dataloader(), "test")["test/acc"]


@pytest.fixture(scope="module")
def accuracies():
    torch.set_num_threads(1)
    return {name: [_test_accuracy(name, s) for s in SEEDS] for name in PRIORS}


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in PRIORS if n != "none"])
def test_loss_recovers_accuracy_over_unregularized(name, accuracies):
    base, acc = accuracies["none"], accuracies[name]
    print(f"{name}: {acc} vs none {base}")
    assert sum(acc) / len(acc) >= sum(base) / len(base) + MARGIN, (name, acc, base)
    assert all(a > b for a, b in zip(acc, base)), (name, acc, base)  # per seed, too
