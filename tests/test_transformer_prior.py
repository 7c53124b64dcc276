"""The ViT relevance prior on Decoy-Digits through the Hydra pipeline (train.py's configs)."""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

from priors.attributions import get_method
from priors.models import ViT
from priors.pipeline import build
from priors.app import TRAIN_CONF

CONF = str(TRAIN_CONF)
# CI size: experiment=decoy_digits_vit (a 7x7 swatch that is one 7x7 ViT patch, batch 16) with
# 15 epochs instead of 30.
SMALL = ["trainer.max_epochs=15"]
SEEDS = (0, 1)  # the effect varies with the seed: the accuracy margin is on their mean


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


def _fit(tmp_path, name, seed, *overrides):
    cfg = _compose(f"seed={seed}", "logger=none", "trainer.accelerator=cpu", "threads=1",
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
    # start_layer=0 (all blocks): the setting the margins below were measured with.
    attr = get_method("transformer_attribution")(model, x, y, start_layer=0)
    share = (attr * mask).flatten(1).sum(1) / attr.flatten(1).sum(1)
    return metrics, float(share.mean())


def test_relevance_prior_moves_relevance_off_the_decoy_and_recovers_accuracy(tmp_path,
                                                                           one_thread):
    """``experiment=decoy_digits_vit`` with ``prior=none`` and ``prior=vit_relevance`` (weight
    100), 15 epochs, seeds 0 and 1 (~80 s on one thread).

    Measured at this size (seed 0 / seed 1): transformer-attribution mass on the swatch (49 of
    784 pixels) 0.052 / 0.071 without the prior and 0.027 / 0.022 with it; test accuracy 0.744
    / 0.714 without and 0.892 / 0.886 with it (no decoy: 0.919 / 0.865 at 15 epochs). The
    accuracy gain varies with the seed (seed 2: 0.795 -> 0.815), so it is asserted on the mean
    of two seeds (measured +0.16) with a margin of less than half of that; the swatch mass
    falls on every seed (measured 1.9x and 3.2x).
    """
    rows = []
    for seed in SEEDS:
        plain, plain_share = _fit(tmp_path, f"none{seed}", seed, "prior=none",
                                  "callbacks=default")
        # The cost monitor once: its replays add time, and one run shows it reports.
        callbacks = "callbacks=cost" if seed == SEEDS[0] else "callbacks=default"
        prior, prior_share = _fit(tmp_path, f"prior{seed}", seed, "prior=vit_relevance",
                                  callbacks)
        print(f"seed {seed}: share on the swatch: none {plain_share:.4f}, prior "
              f"{prior_share:.4f}; test acc: none {plain['test/acc']:.3f}, prior "
              f"{prior['test/acc']:.3f}")
        rows.append((plain, plain_share, prior, prior_share))
        # The unregularized ViT leans on the swatch; the prior moves relevance off it.
        assert plain_share > 1.3 * prior_share
        assert prior["test/acc"] > 0.75 and prior["train/prior"] >= 0  # chance is 0.1
    gain = sum(p["test/acc"] - q["test/acc"] for q, _, p, _ in rows) / len(rows)
    assert gain > 0.07, f"mean test-accuracy gain of the prior {gain:.3f}"
    assert rows[0][2]["prior_cost/mean_ratio"] > 1.0
