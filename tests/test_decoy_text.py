"""Decoy-Text end to end through train.py's pipeline: the unregularized tiny BERT is fooled by
the decoy, the IG masked-L2 prior recovers accuracy and moves attribution off it (seeds 0, 1)."""
from __future__ import annotations

import json

import pytest
import torch
from hydra import compose, initialize_config_dir

from priors.app import TRAIN_CONF

from priors.attributions import get_method
from priors.batch import parse_batch
from priors.pipeline import build_datamodule, build_model, run

CONF = str(TRAIN_CONF)


def _run(tmp_path, seed, *overrides):
    out = tmp_path / f"{'_'.join(overrides)}_{seed}".replace("=", "-").replace(".", "-")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=decoy_text", f"seed={seed}", "logger=none",
                                          f"paths.output_dir={out}", *overrides])
    metrics = run(cfg)
    dm = build_datamodule(cfg)
    model = build_model(cfg, dm)
    model.load_state_dict(torch.load(out / "model.pt"))
    tokens, _, _ = parse_batch(dm.test_dataset.tensors)
    scores = get_method("text_ig")(model.eval(), tokens, None, n_steps=16).abs().detach()
    share = float(((scores * dm.test_dataset.tensors["decoy_mask"]).sum(1)
                   / scores.sum(1)).mean())
    return metrics["test/acc"], share


@pytest.mark.slow
def test_ig_prior_moves_a_tiny_bert_off_the_decoy(tmp_path, one_thread):
    rows = []
    for seed in (0, 1):
        clean, _ = _run(tmp_path, seed, "prior=none", "data.decoy=false")
        fooled, share_none = _run(tmp_path, seed, "prior=none")
        fixed, share_prior = _run(tmp_path, seed, "prior=text_ig")
        rows.append((clean, fooled, fixed, share_none, share_prior))
        assert fooled < clean - 0.3          # relies on the decoy (chance at test)
        assert share_none > 0.5              # most attribution on the one decoy token
        assert share_prior < share_none / 3  # the prior moves attribution off it
    clean, fooled, fixed = (sum(r[i] for r in rows) / 2 for i in range(3))
    assert fixed > fooled + 0.1, rows        # accuracy recovers (mean of the two seeds)
    (tmp_path / "rows.json").write_text(json.dumps(rows))
