"""ROAR / KAR (Hooker et al. 2019): masking, retraining through the pipeline, the cache."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from priors.evaluation.roar import collect_roar, compose_train_config, run_roar
from priors.evaluation.roar_data import feature_means, load_run, load_run_config, replace_ranked
from priors.pipeline import run

N_FEATURES, N_RELEVANT = 20, 4


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory) -> Path:
    """An MLP trained on 20 Gaussian features of which only the first 4 carry the label."""
    out = tmp_path_factory.mktemp("synthetic_run")
    run(compose_train_config([
        "data=synthetic", "data.n_samples=3000", f"data.n_features={N_FEATURES}",
        f"data.n_relevant={N_RELEVANT}", "data.batch_size=128", "model=mlp", "model.hidden=[32]",
        "trainer=cpu", "trainer.max_epochs=10",
        "trainer.enable_progress_bar=false", "logger=none", "threads=1",
        f"paths.output_dir={out}"]))
    return out


def test_replace_ranked_replaces_top_or_bottom_features_by_the_training_mean():
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(12.0).view(2, 6)
    scores = torch.tensor([[6.0, 5, 4, 3, 2, 1], [1.0, 2, 3, 4, 5, 6]])
    means = torch.full((6,), -1.0)
    roar = replace_ranked(x, scores, 0.5, "roar", means, gen)
    kar = replace_ranked(x, scores, 0.5, "kar", means, gen)
    assert roar[0].tolist() == [-1, -1, -1, 3, 4, 5] and roar[1].tolist() == [6, 7, 8, -1, -1, -1]
    assert kar[0].tolist() == [0, 1, 2, -1, -1, -1] and kar[1].tolist() == [-1, -1, -1, 9, 10, 11]
    # Images: whole pixels (all channels) take the per-channel training mean.
    imgs = torch.rand(4, 3, 5, 5)
    means = feature_means(imgs)
    torch.testing.assert_close(means, imgs.mean((0, 2, 3)))
    pix = torch.rand(4, 25)
    out = replace_ranked(imgs, pix, 0.2, "roar", means, gen)
    changed = (out != imgs).flatten(2).any(1)  # (N, pixels)
    assert changed.sum(1).tolist() == [5] * 4
    assert torch.equal(changed, pix >= pix.topk(5, 1).values[:, -1:])
    assert torch.allclose(out.flatten(2)[:, :, changed[0]][0], means.view(3, 1).expand(3, 5))
    with pytest.raises(ValueError, match="mode"):
        replace_ranked(x, scores, 0.5, "remove", means, gen)


def test_roar_and_kar_with_a_correct_attribution_vs_random(synthetic_run, tmp_path):
    weights = (synthetic_run / "model.pt").read_bytes()
    roar = run_roar(synthetic_run, ["grad"], fractions=[N_RELEVANT / N_FEATURES],
                    modes=["roar"], seeds=[0], out_dir=tmp_path / "roar", overrides=["logger=none"])
    kar = run_roar(synthetic_run, ["grad"], fractions=[1 - N_RELEVANT / N_FEATURES],
                   modes=["kar"], seeds=[0], out_dir=tmp_path / "kar", overrides=["logger=none"])
    y = load_run(synthetic_run)[1].test_dataset.tensors[1]
    # A prediction independent of the label scores between the two class rates on average.
    low, chance = sorted([float(y.mean()), float(1 - y.mean())])
    original = json.loads((synthetic_run / "result.json").read_text())["metrics"]["test/acc"]
    acc = {(r.mode, r.method): r.retrained for r in roar.itertuples()}
    acc.update({(r.mode, r.method): r.retrained for r in kar.itertuples()})
    print(f"chance {chance:.3f} original {original:.3f} {acc}")
    assert original > chance + 0.3
    # ROAR: removing the 4 relevant features (the top 20% by |gradient|) leaves chance level.
    assert low - 0.05 <= acc["roar", "grad"] <= chance + 0.05
    assert acc["roar", "random"] > chance + 0.15
    # KAR: removing the 16 least important keeps the 4 relevant ones, and the accuracy.
    assert acc["kar", "grad"] >= original - 0.05
    assert acc["kar", "random"] < acc["kar", "grad"] - 0.15
    # Outputs: per-job CSV, table, markdown and the curve plot; jobs are train.py configs.
    for name in ("roar.csv", "roar_table.csv", "roar_table.md", "roar_curve.png"):
        assert (tmp_path / "roar" / name).is_file()
    # The jobs save their own weights, never over the original run's (which they load).
    assert (synthetic_run / "model.pt").read_bytes() == weights
    assert (Path(roar.job_dir[0]) / "model.pt").is_file()
    job = json.loads((Path(roar.job_dir[0]) / "result.json").read_text())["config"]
    assert job["model"] == load_run_config(synthetic_run).model
    assert job["trainer"]["default_root_dir"] == roar.job_dir[0]
    assert job["data"]["_target_"] == "priors.data.modified.RoarDataModule"


def test_second_run_with_the_same_settings_rebuilds_no_dataset(synthetic_run, tmp_path):
    kwargs = dict(methods=["smoothgrad"], fractions=[0.5], modes=["roar", "kar"], seeds=[3],
                  hparams={"smoothgrad": {"n_samples": 3, "noise_level": 0.1}},
                  cache_dir=tmp_path / "cache", overrides=["logger=none", "trainer.max_epochs=1"])
    first = run_roar(synthetic_run, out_dir=tmp_path / "a", **kwargs)
    assert first.dataset_built.all()
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()}
    # smoothgrad and random, 2 modes each
    assert len([p for p in files if p.name.startswith("data-")]) == 4
    second = run_roar(synthetic_run, out_dir=tmp_path / "b", **kwargs)  # new jobs, same data
    assert not second.dataset_built.any()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()} == files
    assert second.no_retrain.tolist() == first.no_retrain.tolist()
    assert second.retrained.notna().all()
    # The same table from the jobs' result.json files (as after a train.py -m multirun).
    collected = collect_roar(tmp_path / "b" / "jobs", out_dir=tmp_path / "c")
    key = ["method", "mode", "fraction", "seed"]
    pd.testing.assert_frame_equal(
        collected.sort_values(key)[key + ["retrained", "no_retrain"]].reset_index(drop=True),
        second.sort_values(key)[key + ["retrained", "no_retrain"]].reset_index(drop=True))
    assert (tmp_path / "c" / "roar_curve.png").is_file()


@pytest.mark.parametrize("name", ["roar", "sanity"])
def test_metric_configs_are_partials_of_the_python_entry_points(name):
    import inspect

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from priors.app import EVALUATE_CONF

    conf = EVALUATE_CONF / "metric" / f"{name}.yaml"
    fn = instantiate(OmegaConf.load(conf)[name])  # one entry of evaluate.py's metric list
    params = inspect.signature(fn.func).parameters
    assert fn.func.__name__ == f"run_{name}"
    assert set(fn.keywords) <= set(params) and "run_dir" not in fn.keywords
