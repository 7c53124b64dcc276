"""Interrupted runs: a training process killed with SIGKILL resumes from its last checkpoint and
ends bit-identical (weights and metrics) to an uninterrupted run; a crashing job of a multirun
leaves the others' results intact and the report lists it."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
# 320 synthetic samples: 192 for training, 3 batches of 64 per epoch; checkpoints every epoch.
TRAIN = [sys.executable, "train.py", "data=synthetic", "data.n_samples=320", "model.hidden=[16]",
         "trainer.max_epochs=4", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
         "logger=none", "threads=1", "callbacks=checkpoint",
         "callbacks.checkpoint.every_n_train_steps=3", "callbacks.checkpoint.save_top_k=-1"]


def _env():
    # killer.py (the SIGKILL callback) is imported from tests/ by Hydra.
    path = os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1", "PYTHONPATH": path}


def _train(run_dir, *overrides):
    return subprocess.run([*TRAIN, f"hydra.run.dir={run_dir}", *overrides], cwd=REPO,
                          env=_env(), capture_output=True, text=True, timeout=300)


def _weights(run_dir, step):
    ckpt = torch.load(run_dir / "checkpoints" / f"step={step}.ckpt", weights_only=True)
    return ckpt["state_dict"]


def test_sigkilled_run_resumes_bit_identical(tmp_path):
    # Expected Gradients: the prior with its own random stream (references and alphas);
    # X-Gradient: the completeness route of the step.
    for prior in ("eg", "xg"):
        whole, killed = tmp_path / f"{prior}_whole", tmp_path / f"{prior}_killed"
        run = _train(whole, f"prior={prior}")
        assert run.returncode == 0, run.stderr[-3000:]
        # Killed at the start of step 7, one step after the checkpoint of step 6 (epoch 2).
        run = _train(killed, f"prior={prior}", "+callbacks.kill._target_=killer.KillAtStep",
                     "+callbacks.kill.step=7")
        assert run.returncode == -signal.SIGKILL, run.stderr[-3000:]
        # Killed: no cleanup code ran; result.json still says running (read as interrupted).
        assert json.loads((killed / "result.json").read_text())["status"] == "running"
        assert not (killed / "checkpoints" / "step=9.ckpt").exists()
        before = {s: (killed / "checkpoints" / f"step={s}.ckpt").stat().st_mtime_ns
                  for s in (3, 6)}
        start = tmp_path / f"{prior}_start.txt"
        run = _train(killed, f"prior={prior}", "ckpt_path=last",
                     "+callbacks.start._target_=killer.RecordStartStep",
                     f"+callbacks.start.path={start}")
        assert run.returncode == 0, run.stderr[-3000:]
        # The resumed process started at the checkpoint's step and left the earlier
        # checkpoints alone: a rerun from step 0 (bit-identical on CPU too) would not.
        assert start.read_text() == "6"
        assert {s: (killed / "checkpoints" / f"step={s}.ckpt").stat().st_mtime_ns
                for s in (3, 6)} == before
        for step in (9, 12):  # the steps trained after the resume
            a, b = _weights(whole, step), _weights(killed, step)
            assert a.keys() == b.keys()
            assert all(torch.equal(a[k], b[k]) for k in a), (prior, step)
        ra = json.loads((whole / "result.json").read_text())
        rb = json.loads((killed / "result.json").read_text())
        assert rb["status"] == "ok" and ra["metrics"] == rb["metrics"]
        assert {"test/auroc", "val/auroc_best", "best_step"} <= set(ra["metrics"])


def test_a_crashing_job_leaves_the_others_and_is_reported(tmp_path):
    sweep = tmp_path / "multirun"
    cmd = [sys.executable, "train.py", "-m", f"hydra.sweep.dir={sweep}", "data=synthetic",
           "data.n_samples=200", "model.hidden=[8]", "trainer.max_epochs=1",
           "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "logger=none",
           "threads=1", "prior=xg", "prior.weight=0.1,inf,0.2"]
    run = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode != 0  # the sweep reports the failure...
    results = {i: json.loads((sweep / str(i) / "result.json").read_text()) for i in range(3)}
    # ...but only after every job ran: the jobs before and after the crash finished.
    assert [results[i]["status"] for i in range(3)] == ["ok", "failed", "ok"]
    assert "finite, nonnegative" in results[1]["error"]
    assert all("test/auroc" in results[i]["metrics"] for i in (0, 2))
    out = tmp_path / "report"
    rep = subprocess.run([sys.executable, "-m", "priors.report", str(sweep), "--out", str(out)],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr[-3000:]
    jobs = pd.read_csv(out / "jobs.csv")
    assert sorted(jobs["status"]) == ["failed", "ok", "ok"]
    failed = jobs[jobs["status"] == "failed"].iloc[0]
    assert "prior.weight=inf" in failed["overrides"]


def test_same_seed_same_weights_with_every_prior():
    """Determinism on CPU: two runs with one seed end bit-identical, for every registered
    differentiable method (EG, SmoothGrad and dropout included), in one process."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from priors import Prior, PriorModule
    from priors.attributions import available_methods, get_method
    from priors.models import MLP

    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 6, generator=g)
    y = (x[:, 0] > 0).long()

    def run(method):
        pl.seed_everything(3, verbose=False)
        spec = get_method(method)
        small = {k: v for k, v in {"n_steps": 4, "n_samples": 2, "k": 2}.items() if k in spec.hparams}
        model = MLP(6, hidden=(8,), out_features=2, bias=not spec.requires_xdnn, dropout=0.2)
        module = PriorModule(model, Prior(method, "l1", weight=0.1, **small), task="multiclass",
                             num_classes=2)
        loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                            generator=torch.Generator().manual_seed(3))
        pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False).fit(module, loader)
        return [p.detach().clone() for p in module.parameters()]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # (requires_conv methods need a CNN: their determinism is that of the gradient they use)
        for method in available_methods(differentiable=True, requires_conv=False,
                                        requires_vit=False, requires_embeddings=False):
            a, b = run(method), run(method)
            assert all(torch.equal(p, q) for p, q in zip(a, b)), method
    finally:
        torch.set_num_threads(threads)


def test_keep_best_weights_state_survives_a_checkpoint():
    """The best weights so far travel in the checkpoint and are not reset on resume."""
    from priors.callbacks import KeepBestWeights

    cb = KeepBestWeights()
    cb.best_score, cb.best_step = 0.8, 6
    cb.best_state = {"w": torch.arange(3.0)}
    restored = KeepBestWeights()
    restored.load_state_dict(cb.state_dict())
    restored.on_train_start(trainer=None, pl_module=None)  # the resumed fit starts
    assert (restored.best_score, restored.best_step) == (0.8, 6)
    assert torch.equal(restored.best_state["w"], torch.arange(3.0))
    fresh = KeepBestWeights()
    fresh.best_score = 0.5
    fresh.on_train_start(trainer=None, pl_module=None)  # a new fit forgets the last one's best
    assert fresh.best_score is None
