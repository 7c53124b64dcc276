"""DDP on CPU (gloo, 2 processes) against one process with the same global batch.

What is compared, and why it can be exact: the two ranks' batches of each step together are the
single process's batch (the single process reads DistributedSampler's permutation in order), the
penalty is L1 (a mean over examples, so the mean of the ranks' penalties is the global one; the
Gini penalty of a batch-mean attribution is not decomposable and would differ by construction),
and DDP averages the ranks' gradients. X-Gradient is deterministic. Expected Gradients is random:
with one zero reference on an X-DNN its value does not depend on the draws (the gradient of a
positively homogeneous network is constant along the ray from 0), so the EG code path (its own
batched forward, double backward, gradient sync) is compared exactly; with references drawn from
the data, the ranks must draw different references, reproducibly.
"""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-6  # float32 sums in another order (measured: ~1.5e-8 on weights of size ~0.3)


def _run(tmp_path, name, devices, *args):
    out = tmp_path / f"{name}.pt"
    batch = 64 // devices
    cmd = [sys.executable, "tests/ddp_run.py", "--devices", str(devices), "--batch-size",
           str(batch), "--out", str(out), *args]
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, **env})
    assert run.returncode == 0, run.stderr[-3000:]
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("method, refs", [("xg", "data"), ("eg", "zero")])
def test_ddp_matches_one_process_with_the_same_global_batch(tmp_path, method, refs):
    ddp = _run(tmp_path, "ddp", 2, "--method", method, "--refs", refs)
    one = _run(tmp_path, "one", 1, "--method", method, "--refs", refs)
    assert ddp["world_size"] == 2 and one["world_size"] == 1
    for k, w in one["weights"].items():
        diff = (ddp["weights"][k] - w).abs().max().item()
        assert diff < TOL, (k, diff)


def test_ddp_expected_gradients_draws_per_rank_and_reproducibly(tmp_path):
    run = _run(tmp_path, "a", 2, "--method", "eg", "--penalty", "gini")
    refs = run["first_refs"]  # (ranks, 4, features): the first references each rank drew
    assert refs.shape[0] == 2 and not torch.equal(refs[0], refs[1])
    # Reproducible: rank r's sampler is seeded with seed + 7919 r (seed_everything(0) here).
    x = run["train_x"]
    for rank in (0, 1):
        g = torch.Generator().manual_seed(0 + 7919 * rank)
        assert torch.equal(refs[rank], x[torch.randint(len(x), (4,), generator=g)])
