"""The Hydra application as a user meets it: help, one-line errors, resolvable experiments, quiet
runs that say where they wrote, nothing written beside the outputs folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from priors.app import EVALUATE_CONF, TRAIN_CONF
from priors.app.resolvers import register_resolvers

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (TRAIN_CONF / "experiment").glob("*.yaml"))


def _cli(script: str, *args: str, cwd: Path = REPO, full_error: bool = False):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    if full_error:
        env["HYDRA_FULL_ERROR"] = "1"
    return subprocess.run([sys.executable, str(REPO / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_there_is_one_config_tree_in_the_package():
    assert not (REPO / "conf").exists(), "conf/ at the repository root: a second copy"
    assert (TRAIN_CONF / "train.yaml").is_file() and (EVALUATE_CONF / "evaluate.yaml").is_file()


@pytest.mark.parametrize("experiment", [None, *EXPERIMENTS])
def test_every_experiment_composes_and_resolves(experiment, tmp_path):
    """What ``--cfg job --resolve`` does (OmegaConf.resolve in place), for each experiment and
    for the default MLP with prior=xg (its list default once failed to resolve)."""
    register_resolvers()
    overrides = [f"experiment={experiment}"] if experiment else ["prior=xg"]
    with initialize_config_dir(config_dir=str(TRAIN_CONF), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"paths.output_dir={tmp_path}"])
    OmegaConf.resolve(cfg)
    text = OmegaConf.to_yaml(cfg)
    assert "${" not in text
    if experiment is None:
        assert list(cfg.model.hidden) == [512, 128, 32] and cfg.model.bias is False


def test_cfg_job_resolve_on_the_command_line():
    proc = _cli("train.py", "prior=xg", "--cfg", "job", "--resolve")
    assert proc.returncode == 0, proc.stderr
    cfg = OmegaConf.create(proc.stdout)
    assert list(cfg.model.hidden) == [512, 128, 32] and cfg.threads == 1


def test_help_describes_each_command_with_its_own_groups():
    train = _cli("train.py", "--help")
    evaluate = _cli("evaluate.py", "--help")
    assert train.returncode == 0 and evaluate.returncode == 0
    assert "attribution" in train.stdout and "priors-train prior=xg" in train.stdout
    assert "prior: " in train.stdout and "data: " in train.stdout
    assert "method: " not in train.stdout and "metric: " not in train.stdout
    assert "priors-evaluate run=" in evaluate.stdout
    assert "method: " in evaluate.stdout and "metric: " in evaluate.stdout
    assert "prior: " not in evaluate.stdout and "data: " not in evaluate.stdout


@pytest.mark.parametrize("args, names", [
    (["data=csv"], "data.path"),                                  # missing mandatory value
    (["prior=xg", "prior.weight=abc", "trainer.max_epochs=1"], "weight"),   # wrong type
    (["prior.wieght=0.1"], "prior.wieght"),                       # unknown key
    (["prior=xgg"], "prior/xgg"),                                 # unknown option
])
def test_user_errors_print_one_line(args, names, tmp_path):
    proc = _cli("train.py", *args, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and names in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and "Error executing job" not in proc.stderr


@pytest.mark.slow
def test_full_error_shows_the_traceback(tmp_path):
    proc = _cli("train.py", "data=csv", f"hydra.run.dir={tmp_path}", full_error=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    assert "MissingMandatoryValue" in proc.stderr


@pytest.mark.slow
def test_evaluate_without_run_names_the_key(tmp_path):
    proc = _cli("evaluate.py", cwd=tmp_path)
    assert proc.returncode == 2 and "run is required" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_run_is_quiet_says_where_it_wrote_and_writes_only_outputs(tmp_path):
    """From an empty folder: only outputs/ appears (no lightning_logs/, no data/); Lightning's
    tips and the seed lines are silenced; the last lines name the run folder and result.json."""
    proc = _cli("train.py", "prior=xg", "trainer.max_epochs=1", "++trainer.limit_train_batches=3",
                "++trainer.enable_progress_bar=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]
    out = proc.stdout + proc.stderr
    for noise in ("Seed set to", "litmodels", "litlogger", "💡", "GPU available", "TPU available"):
        assert noise not in out, noise
    lines = proc.stdout.strip().splitlines()
    run_dir = Path(lines[-2].split("output directory: ", 1)[1])
    assert lines[-1] == f"[priors] result: {run_dir / 'result.json'}"
    assert run_dir.parent.parent == tmp_path / "outputs"
    assert json.loads((run_dir / "result.json").read_text())["status"] == "ok"
