"""End to end: train.py's pipeline saves model.pt, evaluate.py evaluates the saved run."""
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from torchmetrics.functional.classification import binary_auroc

from priors.attributions import available_methods
from priors.evaluation import dataset_tensors, load_run
from priors.evaluation.load import find_runs
from priors.app import EVALUATE_CONF, TRAIN_CONF
from priors.pipeline import run

REPO = Path(__file__).resolve().parents[1]
TRAIN = str(TRAIN_CONF)
EVALUATE = str(EVALUATE_CONF)


def _evaluate_module():
    spec = importlib.util.spec_from_file_location("evaluate_script", REPO / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny `train.py data=synthetic prior=xg` run (X-MLP, 3 epochs)."""
    out = tmp_path_factory.mktemp("runs") / "synthetic_xg"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with initialize_config_dir(config_dir=TRAIN, version_base="1.3"):
            cfg = compose("train", overrides=[
                "data=synthetic", "data.n_samples=300", "model.hidden=[16]", "prior=xg",
                "trainer.max_epochs=3", "trainer.accelerator=cpu",
                "trainer.enable_progress_bar=false", "logger=none", f"paths.output_dir={out}"])
        run(cfg)
    finally:
        torch.set_num_threads(threads)
    return out


def test_saved_weights_are_the_tested_ones(trained_run):
    assert (trained_run / "model.pt").is_file()
    result = json.loads((trained_run / "result.json").read_text())
    loaded = load_run(trained_run)
    x, y = dataset_tensors(loaded.datamodule.test_dataset)
    with torch.no_grad():
        auroc = float(binary_auroc(torch.sigmoid(loaded.model(x)), y.long()))
    # KeepBestWeights restored the best epoch before testing: model.pt holds those weights.
    assert auroc == pytest.approx(result["metrics"]["test/auroc"], abs=1e-6)


def test_evaluate_function_writes_finite_tables_plots_and_summary(trained_run):
    with initialize_config_dir(config_dir=EVALUATE, version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            f"run={trained_run}", "method=[xg,ig,grad,random]", "n_examples=40",
            "progress=false", "threads=1", "metric.sensitivity.max_features=8"])
    (results,) = _evaluate_module().evaluate(cfg)
    out = trained_run / "evaluation"
    assert results["out_dir"] == out
    for name in ("kpm", "knm", "kam", "ram"):
        curve = pd.read_csv(out / f"{name}.csv")
        assert list(curve.columns) == ["method", "fraction", "value"]
        assert len(curve) == 16 * curve["method"].nunique()
        assert curve["value"].map(math.isfinite).all()
        assert (out / f"{name}.png").stat().st_size > 10_000
    scores = pd.read_csv(out / "scores.csv")
    methods = ["xg", "ig", "grad"] + (["random"] if "random" in available_methods() else [])
    assert sorted(scores["method"].unique()) == sorted(methods)
    assert scores["auc"].map(math.isfinite).all()
    for name in ("completeness", "sensitivity", "implementation_invariance", "xg_ig"):
        assert (out / f"{name}.csv").is_file()
    # prior=xg trains the bias-free X-MLP: XG equals IG and is complete.
    assert pd.read_csv(out / "xg_ig.csv")["holds"].all()
    complete = pd.read_csv(out / "completeness.csv").set_index("method")
    assert complete.loc["xg", "holds"] and complete.loc["ig", "holds"]
    assert pd.read_csv(out / "implementation_invariance.csv")["holds"].all()
    summary = (out / "summary.md").read_text()
    assert "| xg |" in summary and "KPM ↑" in summary and "![ram](ram.png)" in summary
    if "random" not in available_methods():
        assert "method `random` skipped" in summary
    timing = pd.read_csv(out / "timing.csv")
    assert timing["step"].iloc[-1] == "total" and (timing["seconds"] >= 0).all()


def test_evaluate_py_command_line(trained_run, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1"}
    out = tmp_path / "cli"
    cmd = [sys.executable, "evaluate.py", f"run={trained_run}", f"out_dir={out}",
           "method=[xg,grad]", "metric=[kpm,ram,xg_ig]", "n_examples=30", "progress=false",
           "threads=1"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "kpm.csv", "kpm.png", "ram.csv", "ram.png", "scores.csv", "summary.md", "timing.csv",
        "xg_ig.csv"]
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["method"]) == {"xg", "grad"} and scores["auc"].map(math.isfinite).all()
    # No .hydra/ folder in the run: priors.report must not take evaluation/ for a job.
    assert not any(p.name == ".hydra" for p in (trained_run / "evaluation").rglob("*"))


def test_a_folder_of_runs_evaluates_every_run(trained_run, tmp_path):
    sweep = tmp_path / "multirun"
    for job in ("0", "1", "10"):
        shutil.copytree(trained_run, sweep / job, ignore=shutil.ignore_patterns("evaluation"))
    (sweep / "notes").mkdir()  # no model.pt: not a run
    with initialize_config_dir(config_dir=EVALUATE, version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"run={sweep}", "method=[xg]", "metric=[kpm]",
                                             "n_examples=20", "progress=false"])
    results = _evaluate_module().evaluate(cfg)
    assert [r["out_dir"] for r in results] == [sweep / j / "evaluation" for j in ("0", "1", "10")]
    assert all((sweep / j / "evaluation" / "kpm.csv").is_file() for j in ("0", "1", "10"))


def test_bad_run_directories_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run directory"):
        load_run(tmp_path / "missing")
    # (evaluate.py's Hydra creates <run>/evaluation for its log first: then model.pt is missing.)
    (tmp_path / "old" / "evaluation").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="has no model.pt"):
        load_run(tmp_path / "old")
    with pytest.raises(FileNotFoundError, match="holds no trained run"):
        find_runs(tmp_path / "old")


def test_sanity_checks_run_from_evaluate_config(trained_run, tmp_path):
    """metric=[sanity] reaches priors.evaluation.sanity.run_sanity through the evaluate config
    (the same route takes metric=[roar])."""
    with initialize_config_dir(config_dir=EVALUATE, version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            f"run={trained_run}", f"out_dir={tmp_path / 'ev'}", "method=[grad]",
            "metric=[kpm,sanity]", "metric.sanity.labels=false", "metric.sanity.n_examples=8",
            "metric.sanity.methods=[grad]", "metric.sanity.metrics=[spearman]",
            "n_examples=20", "progress=false"])
    (result,) = _evaluate_module().evaluate(cfg)
    frame = result["sanity"]
    assert set(frame["randomization"]) >= {"cascading", "independent"} and len(frame) > 0
    assert frame["mean"].dropna().between(-1, 1).all()
    assert (tmp_path / "ev" / "sanity" / "sanity.csv").is_file()
    assert (tmp_path / "ev" / "kpm.csv").is_file()
