"""AttributionMaps: PNG grids / bar charts in the run folder and images in TensorBoard."""
from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from priors.callbacks import AttributionMaps
from priors.callbacks.attribution_plots import feature_bars
from priors.pipeline import run
from priors.app import TRAIN_CONF

CONF = str(TRAIN_CONF)


def _run(tmp_path: Path, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=[
            f"paths.output_dir={tmp_path}", "trainer.accelerator=cpu", "threads=1",
            "++trainer.enable_progress_bar=false", *overrides])
    return run(cfg)


def _event_images(tmp_path: Path) -> dict:
    found = {}
    for events in (tmp_path / "tensorboard").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events), size_guidance={"images": 0})
        acc.Reload()
        for tag in acc.Tags()["images"]:
            found.setdefault(tag, []).extend(acc.Images(tag))
    return found


@pytest.fixture(scope="module")
def decoy_runs(tmp_path_factory):
    """Decoy-Digits with and without the RRR mask prior, RRR maps every second epoch."""
    out = {}
    for prior in ("rrr", "none"):
        folder = tmp_path_factory.mktemp(prior)
        metrics = _run(folder, "experiment=decoy_digits", f"prior={prior}",
                       "callbacks=attribution_maps", "logger=tensorboard", "trainer.max_epochs=4",
                       "callbacks.attribution_maps.every_n_epochs=2", "data.n_train=600",
                       "data.n_val=100", "callbacks.attribution_maps.method=rrr")
        out[prior] = (folder, metrics)
    return out


def test_decoy_digits_writes_png_grids_and_tensorboard_images(decoy_runs):
    folder, metrics = decoy_runs["rrr"]
    pngs = sorted((folder / "attribution_maps").glob("*.png"))
    assert [p.name for p in pngs] == ["epoch_002.png", "epoch_004.png"]
    image = mpimg.imread(pngs[-1])
    assert image.ndim == 3 and image.shape[0] > 400 and image.shape[1] > 1000  # 3 rows x 8 digits
    assert image[..., :3].std() > 0.1  # not a blank canvas
    images = _event_images(folder)
    assert list(images) == ["attribution_maps/rrr"] and len(images["attribution_maps/rrr"]) == 2
    assert images["attribution_maps/rrr"][0].width > 1000
    assert 0 <= metrics["attr_maps/mask_share"] <= 1


def test_maps_show_the_prior_moving_attribution_off_the_decoy(decoy_runs):
    """The same (RRR) maps: the unregularized model puts several times more |attribution| on
    the swatch than the RRR-trained one, which keeps it well below the swatch's area share."""
    with_prior = decoy_runs["rrr"][1]["attr_maps/mask_share"]
    without = decoy_runs["none"][1]["attr_maps/mask_share"]
    area = 16 / 784  # a 4x4 swatch in a 28x28 image
    # measured (seed 0): 0.0045 with RRR, 0.029 without
    assert without > 4 * with_prior and with_prior < 0.5 * area, (with_prior, without)


def test_tabular_bar_chart_with_gini(tmp_path):
    metrics = _run(tmp_path, "data=synthetic", "prior=xg", "callbacks=attribution_maps",
                   "logger=tensorboard", "trainer.max_epochs=2",
                   "callbacks.attribution_maps.every_n_epochs=1")
    pngs = sorted((tmp_path / "attribution_maps").glob("*.png"))
    assert [p.name for p in pngs] == ["epoch_001.png", "epoch_002.png"]
    assert 0 < metrics["attr_maps/gini"] < 1
    assert len(_event_images(tmp_path)["attribution_maps/xg"]) == 2


def test_feature_bars_orders_and_titles():
    fig = feature_bars(np.array([0.1, 3.0, 0.5]), ["a", "b", "c"], title="Gini = 0.5")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "c", "a"]
    assert "Gini = 0.5" in ax.get_title() and ax.get_xlabel() == "mean |attribution|"


def test_method_defaults_and_validation():
    from priors.module import PriorModule
    from priors.prior import Prior

    model = torch.nn.Linear(4, 1)
    cb = AttributionMaps()
    spec, hp = cb._spec_and_hparams(PriorModule(model, Prior("eg", "gini", 0.1, k=3),
                                                task="binary"))
    assert spec.name == "eg" and hp["k"] == 3
    spec, _ = cb._spec_and_hparams(PriorModule(model, None, task="binary"))
    assert spec.name == "grad"
    with pytest.raises(ValueError, match="has no hyperparameter"):
        AttributionMaps(method="ig", k=3)
    with pytest.raises(ValueError, match="every_n_epochs"):
        AttributionMaps(every_n_epochs=0)
