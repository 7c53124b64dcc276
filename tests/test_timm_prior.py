"""The ViT relevance prior trains a timm VisionTransformer as it is (model=timm_vit), with the
margins of tests/test_transformer_prior.py (priors.models.ViT)."""
from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from priors.app import TRAIN_CONF
from priors.attributions import get_method
from priors.pipeline import build

timm = pytest.importorskip("timm")

SMALL = ["trainer.max_epochs=15"]  # as tests/test_transformer_prior.py
SEEDS = (0, 1)


def _compose(*overrides):
    with initialize_config_dir(config_dir=str(TRAIN_CONF), version_base="1.3"):
        return compose("train", overrides=["experiment=decoy_digits_vit", "model=timm_vit",
                                           *overrides])


def test_timm_vit_config_composes_with_the_experiments_sizes(tmp_path):
    cfg = _compose("prior=vit_relevance")
    assert cfg.model._target_ == "priors.models.timm_models.timm_vit"
    assert cfg.model.patch_size == cfg.data.patch_size == 7 and cfg.prior.weight == 100
    datamodule, module, _ = build(_compose("prior=none", "logger=none", "threads=1",
                                              f"paths.output_dir={tmp_path}"))
    model = module.model
    assert isinstance(model, timm.models.vision_transformer.VisionTransformer)
    assert model.patch_embed.grid_size == (4, 4) and len(model.blocks) == 3
    assert model.embed_dim == 48 and model.head.out_features == 10


def _fit(tmp_path, name, seed, *overrides):
    cfg = _compose(f"seed={seed}", "logger=none", "trainer.accelerator=cpu", "threads=1",
                   f"paths.output_dir={tmp_path / name}", "callbacks=default", *SMALL,
                   *overrides)
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    metrics.update(trainer.test(module, datamodule=datamodule, verbose=False)[0])
    x, y, mask = datamodule.test_dataset.tensors
    model = module.model.eval()
    attr = get_method("transformer_attribution")(model, x, y, start_layer=0)
    share = (attr * mask).flatten(1).sum(1) / attr.flatten(1).sum(1)
    return metrics, float(share.mean())


@pytest.mark.slow
def test_relevance_prior_moves_relevance_off_the_decoy_on_a_timm_vit(tmp_path, one_thread):
    """``experiment=decoy_digits_vit model=timm_vit``, prior=none vs prior=vit_relevance, 15
    epochs, seeds 0 and 1, the margins of the priors.models.ViT test."""
    rows = []
    for seed in SEEDS:
        plain, plain_share = _fit(tmp_path, f"none{seed}", seed, "prior=none")
        prior, prior_share = _fit(tmp_path, f"prior{seed}", seed, "prior=vit_relevance")
        print(f"timm seed {seed}: share on the swatch: none {plain_share:.4f}, prior "
              f"{prior_share:.4f}; test acc: none {plain['test/acc']:.3f}, prior "
              f"{prior['test/acc']:.3f}")
        rows.append((plain, plain_share, prior, prior_share))
        assert plain_share > 1.3 * prior_share
        assert prior["test/acc"] > 0.75 and prior["train/prior"] >= 0
    gain = sum(p["test/acc"] - q["test/acc"] for q, _, p, _ in rows) / len(rows)
    print(f"mean test-accuracy gain {gain:.3f}")
    assert gain > 0.07, f"mean test-accuracy gain of the prior {gain:.3f}"
