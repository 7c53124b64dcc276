"""AttributionQuality: registered metrics logged during training on Decoy-Digits."""
import pytest
import pytorch_lightning as pl
import torch

from priors import PriorModule
from priors.callbacks import AttributionQuality
from priors.data import DecoyDigitsDataModule
from priors.evaluation import evaluate
from priors.models.small_cnn import SmallCNN


def test_attribution_quality_logs_registered_metrics(tmp_path):
    torch.manual_seed(0)
    dm = DecoyDigitsDataModule(n_train=128, n_val=64, image_size=16, batch_size=32, seed=0)
    model = SmallCNN(1, 10, 16)
    module = PriorModule(model, task="multiclass", num_classes=10, lr=3e-3)
    cb = AttributionQuality(metrics=["relevance_mass_accuracy", "sparseness"], n_examples=32)
    trainer = pl.Trainer(max_epochs=2, callbacks=[cb], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=dm)
    assert [h["epoch"] for h in cb.history] == [0, 1]
    last = cb.summary()
    assert set(last) == {"attr_quality/relevance_mass_accuracy", "attr_quality/sparseness"}
    assert 0 <= last["attr_quality/relevance_mass_accuracy"] <= 1
    assert float(trainer.callback_metrics["attr_quality/sparseness"]) == pytest.approx(
        last["attr_quality/sparseness"], abs=1e-6)
    # The logged value is the functional API's on the same examples and final weights.
    x, y, mask = cb._subset(trainer)
    frame = evaluate(model.eval(), x, y, methods=["grad"], metrics=["relevance_mass_accuracy"],
                     masks=mask)
    assert float(frame["value"].iloc[0]) == pytest.approx(
        last["attr_quality/relevance_mass_accuracy"], abs=1e-12)


def test_attribution_quality_bad_arguments():
    with pytest.raises(ValueError, match="retrains a run"):
        AttributionQuality(metrics=["roar"])
    with pytest.raises(ValueError, match="unknown metric"):
        AttributionQuality(metrics=["nope"])
    with pytest.raises(ValueError, match="every_n_epochs"):
        AttributionQuality(every_n_epochs=0)
