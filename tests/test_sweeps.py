"""Hydra multiruns end to end (joblib launcher + report), and the sweep configs compose."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from priors.app import TRAIN_CONF

REPO = Path(__file__).resolve().parents[1]
CONF = str(TRAIN_CONF)


def _env():
    # One thread per joblib worker: oversubscribed OpenMP threads spin on shared CI cores.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1"}


def test_two_by_two_multirun_through_joblib_and_report(tmp_path):
    sweep = tmp_path / "multirun"
    cmd = [sys.executable, "train.py", "-m", "hydra/launcher=local", "hydra.launcher.n_jobs=2",
           f"hydra.sweep.dir={sweep}", "data=synthetic", "data.n_samples=200", "model.hidden=[16]",
           "trainer.max_epochs=2", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
           "logger=none", "prior=none,xg", "seed=0,1"]
    run = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]

    out = tmp_path / "report"
    rep = subprocess.run([sys.executable, "-m", "priors.report", str(sweep), "--out", str(out)],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert "p (paired t)" in rep.stdout

    table = pd.read_csv(out / "table.csv")
    assert list(table["method"]) == ["none", "xg"]
    assert list(table["n"]) == [2, 2] and list(table["n pairs"]) == [0, 2]
    for col in ("test/auroc", "test/auroc se", "val/auroc_best", "selected", "delta", "t",
                "p (paired t)", "failed", "unfinished"):
        assert col in table.columns, col
    # prior=xg switches to the X-MLP; the unregularized runs keep the biased MLP.
    assert list(table["model"]) == ["MLP", "MLP(bias=False)"]
    xg = table.iloc[1]
    assert 0.0 <= xg["p (paired t)"] <= 1.0
    assert pd.isna(table.iloc[0]["p (paired t)"])
    jobs = pd.read_csv(out / "jobs.csv")
    assert sorted(jobs["seed"]) == [0, 0, 1, 1] and set(jobs["status"]) == {"ok"}
    assert (out / "table.png").stat().st_size > 0


def test_optuna_sweeper_tunes_the_weight_on_validation(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper",
                        reason="hydra-optuna-sweeper is a dev extra")
    import yaml

    sweep = tmp_path / "optuna"
    cmd = [sys.executable, "train.py", "-m", "hydra/sweeper=optuna_weight",
           "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={sweep}", "data=synthetic",
           "data.n_samples=200", "model.hidden=[16]", "trainer.max_epochs=2",
           "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "logger=none",
           "prior=eg"]
    run = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert 0.001 <= best["best_params"]["prior.weight"] <= 1.0
    assert 0.0 <= best["best_value"] <= 1.0
    results = [json.loads((sweep / str(i) / "result.json").read_text()) for i in range(3)]
    assert [r["status"] for r in results] == ["ok"] * 3
    assert len({r["config"]["prior"]["weight"] for r in results}) == 3  # three trial weights


def _compose(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_slurm_launcher_composes_into_valid_submitit_parameters(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit", reason="hydra-submitit-launcher is a dev extra")
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    cfg = _compose("hydra/launcher=slurm", "hydra.launcher.partition=cpu",
                   "experiment=nhanes_small_data_study", f"hydra.sweep.dir={tmp_path}")
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "cpu" and launcher.cpus_per_task == 2
    assert instantiate(launcher).__class__.__name__ == "SlurmLauncher"
    # What SlurmLauncher.launch does before submitting: the executor must accept every key.
    # submitit only checks that an srun executable exists; nothing is submitted or run here.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    params = OmegaConf.to_container(launcher, resolve=True)
    params.pop("_target_")
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm",
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))
    params.pop("submitit_folder")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python train.py", "uid")
    assert "#SBATCH --partition=cpu" in script and "#SBATCH --cpus-per-task=2" in script
    assert "export OMP_NUM_THREADS=2" in script


def test_study_configs_share_architecture_and_split():
    models = {p: _compose("experiment=nhanes_small_data_study", f"prior={p}").model
              for p in ("none", "xg", "eg", "rrr")}
    assert all(m.bias is False for m in models.values())  # same X-MLP, same init per seed
    assert len({str(m) for m in models.values()}) == 1
    cfg = _compose("experiment=nhanes_small_data_study", "prior=eg")
    assert (cfg.data.split, cfg.data.n_train, cfg.data.n_val) == ("small_data", 100, 100)
    assert cfg.callbacks.keep_best.score_initial is True and cfg.trainer.max_epochs == 100
    irr = _compose("experiment=nhanes_small_data_irrelevant", "prior=xg")
    assert irr.data.n_irrelevant == 95 and "attribution_share" in irr.callbacks
    assert _compose("experiment=nhanes_small_data_500").data.n_train == 500
    assert _compose("hydra/launcher=local").hydra.launcher.n_jobs == 2


def test_study_priors_share_split_and_initial_weights(tmp_path, nhanes_dir):
    """Within a seed, every method of the study starts from the same weights and split, so the
    report's paired t-test pairs like with like."""
    import torch

    from priors.pipeline import build

    built = {}
    for prior in ("none", "xg", "eg"):
        cfg = _compose("experiment=nhanes_small_data_study", f"prior={prior}", "seed=7",
                       f"paths.output_dir={tmp_path}", f"data.data_dir={nhanes_dir}")
        dm, module, _ = build(cfg)
        built[prior] = (dm.train_idx, dm.val_idx, module.model.state_dict())
    (idx, val, weights), *others = built.values()
    assert len(idx) == 100 and len(val) == 100
    for other_idx, other_val, other_weights in others:
        assert (other_idx == idx).all() and (other_val == val).all()
        assert all(torch.equal(weights[k], other_weights[k]) for k in weights)
    cfg = _compose("experiment=nhanes_small_data_study", "prior=none", "seed=8",
                   f"paths.output_dir={tmp_path}", f"data.data_dir={nhanes_dir}")
    dm, module, _ = build(cfg)
    assert not (dm.train_idx == idx).all()
    assert not torch.equal(module.model.state_dict()["net.1.weight"], weights["net.1.weight"])
