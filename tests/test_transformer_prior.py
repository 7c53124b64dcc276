"""The ViT relevance prior on Decoy-Digits through the Hydra pipeline (train.py's configs)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from priors.attributions import get_method
from priors.models import ViT
from priors.pipeline import build

CONF = str(Path(__file__).resolve().parents[1] / "conf")
# CI size: experiment=decoy_digits_vit (a 7x7 swatch that is one 7x7 ViT patch, batch 16) with
# 15 epochs instead of 30.
SMALL = ["trainer.max_epochs=15"]
SEED = 0  # also checked with seed 1 (numbers in the docstring)


def _compose(*overrides, experiment=("experiment=decoy_digits_vit",)):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=[*experiment, *overrides])


def test_configs_compose():
    cfg = _compose("prior=vit_relevance", experiment=("experiment=decoy_digits", "model=vit"))
    assert cfg.model._target_ == "priors.models.ViT" and cfg.model.image_size == 28
    assert cfg.model.patch_size == cfg.data.patch_size == 4 and cfg.prior.weight == 10
    vit = _compose("prior=vit_relevance")
    assert vit.model._target_ == "priors.models.ViT" and vit.model.image_size == 28
    assert vit.model.patch_size == vit.data.patch_size == 7  # the swatch is one patch
    assert vit.prior.method == "gradient_weighted_attention" and vit.prior.weight == 100
    assert _compose("prior=none", "data.decoy=false").data.decoy is False
    assert "hidden" not in cfg.model  # the experiment's MLP sizes stay with the MLP
    assert cfg.prior.method == "gradient_weighted_attention" and cfg.prior.penalty == "masked_l2"
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        # (experiment=decoy_digits sets penalty=masked_l2 for every prior)
        tv = compose("train", overrides=["model=vit", "prior=vit_relevance_tv"])
        mlp = compose("train", overrides=["experiment=decoy_digits"])
        default_mlp = compose("train", overrides=["model=mlp"])
    assert tv.prior.penalty == "tv" and tv.prior.method == "gradient_weighted_attention"
    assert list(mlp.model.hidden) == [50, 30] and list(default_mlp.model.hidden) == [512, 128, 32]


def _fit(tmp_path, name, *overrides):
    cfg = _compose(f"seed={SEED}", "logger=none", "trainer.accelerator=cpu", "threads=1",
                   f"paths.output_dir={tmp_path / name}", *SMALL, *overrides)
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    for cb in trainer.callbacks:
        if callable(getattr(cb, "summary", None)):
            metrics.update(cb.summary())
    metrics.update(trainer.test(module, datamodule=datamodule, verbose=False)[0])
    x, y, mask = datamodule.test_dataset.tensors
    model = module.model.eval()
    assert isinstance(model, ViT)
    attr = get_method("transformer_attribution")(model, x, y)
    share = (attr * mask).flatten(1).sum(1) / attr.flatten(1).sum(1)
    return metrics, float(share.mean())


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_relevance_prior_moves_relevance_off_the_decoy_and_recovers_accuracy(tmp_path,
                                                                           one_thread):
    """``experiment=decoy_digits_vit`` with ``prior=none`` and ``prior=vit_relevance`` (weight
    100), 15 epochs, seed 0 (~45 s on one thread).

    Measured at this size (seed 0 / seed 1): transformer-attribution mass on the swatch (49 of
    784 pixels) 0.052 / 0.071 without the prior and 0.027 / 0.022 with it; test accuracy 0.744
    / 0.714 without and 0.892 / 0.886 with it (no decoy: 0.919 / 0.865 at 15 epochs). The
    effect varies with the seed (seed 2: 0.795 -> 0.815), so the margins below are about half
    of the measured gaps.
    """
    plain, plain_share = _fit(tmp_path, "none", "prior=none", "callbacks=default")
    prior, prior_share = _fit(tmp_path, "prior", "prior=vit_relevance", "callbacks=cost")
    print(f"share on the swatch: none {plain_share:.4f}, prior {prior_share:.4f}; test acc: "
          f"none {plain['test/acc']:.3f}, prior {prior['test/acc']:.3f}")
    # The unregularized ViT is fooled: it leans on the swatch and loses accuracy at test.
    assert plain_share > 1.5 * prior_share
    assert prior["test/acc"] > plain["test/acc"] + 0.07
    assert prior["train/prior"] >= 0 and prior["prior_cost/mean_ratio"] > 1.0
    assert prior["test/acc"] > 0.8  # chance is 0.1
