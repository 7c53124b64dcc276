"""Tiny real training runs for the integrity tests (in-process pipeline or train.py)."""
import os
import subprocess
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
from priors.app import TRAIN_CONF  # noqa: E402

CONF = str(TRAIN_CONF)
# A one-epoch X-free MLP on 200 synthetic rows: a few seconds per run.
TINY = ["data=synthetic", "data.n_samples=200", "model.hidden=[8]", "trainer.max_epochs=1",
        "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "logger=none",
        "threads=1"]


def env():
    path = os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1", "PYTHONPATH": path}


def config(out, *overrides):
    # Another data=... replaces the synthetic data and its settings.
    base = [o for o in TINY if not ("data=csv" in overrides and o.startswith("data"))]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=[*base, f"paths.output_dir={out}", *overrides])


def train(out, *overrides):
    """``pipeline.run`` in this process (one thread); returns the metrics."""
    from priors.pipeline import run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run(config(out, *overrides))
    finally:
        torch.set_num_threads(threads)


def train_py(run_dir, *overrides, wait=True):
    cmd = [sys.executable, "train.py", *TINY, f"hydra.run.dir={run_dir}", *overrides]
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)


def script(*args, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env(), capture_output=True,
                          text=True, timeout=timeout)
