"""A run folder belongs to one run (issue 20, groups 1 and 4, acceptance 2): real processes.

Two ``train.py`` into one folder: one refuses, the other's files are all its own; a run or an
evaluation killed with SIGKILL while it writes results leaves nothing that ``evaluate.py`` or
the report reads as a result; a retrained folder never credits an old evaluation.
"""
import json
import shutil
import signal
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from integrity_runs import REPO, env, script, train, train_py
from priors.evaluation import evaluate_run
from priors.evaluation.load import IncompleteRunError, load_run
from priors.report import collect
from priors.runs import atomic
from priors.runs.fingerprint import sha256_file
from priors.runs.lock import RunFolderBusy, RunFolderTaken, claim_run_dir

EVAL = dict(methods=["grad"], metrics=["kpm"], fractions=[0.25, 1.0], n_examples=20,
            progress=False, plots=False, threads=1)


def _hold_lock(run_dir):
    """A second real process that claims ``run_dir`` and waits (stdin closes: it exits)."""
    code = ("import sys; from priors.runs.lock import claim_run_dir; "
            f"claim_run_dir({str(run_dir)!r}); print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env(), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_two_train_py_into_one_folder_one_refuses_the_other_is_whole(tmp_path):
    run_dir = tmp_path / "run"
    # Started together; seeds 0 and 1 tell their files apart.
    procs = {seed: train_py(run_dir, f"seed={seed}", wait=False) for seed in (0, 1)}
    outs = {seed: p.communicate(timeout=300) for seed, p in procs.items()}
    codes = {seed: p.returncode for seed, p in procs.items()}
    assert sorted(codes.values())[0] == 0 and sorted(codes.values())[1] != 0, (codes, outs)
    winner = next(s for s, c in codes.items() if c == 0)
    loser_err = outs[1 - winner][1]
    assert ("is being written by" in loser_err or "already holds a run" in loser_err), loser_err
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "ok" and result["complete"] is True
    assert result["config"]["seed"] == winner
    # .hydra/ and model.pt are the winner's too: the loser wrote nothing into the folder.
    assert yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["seed"] == winner
    assert f"seed={winner}" in yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    assert result["files"]["model.pt"]["sha256"] == sha256_file(run_dir / "model.pt")
    loaded = load_run(run_dir)  # verifies the model's and the data's fingerprints
    assert loaded.result["run_id"] == result["run_id"]


def test_a_folder_held_by_a_live_process_is_refused_even_with_overwrite(tmp_path):
    holder = _hold_lock(tmp_path / "run")
    try:
        with pytest.raises(RunFolderBusy, match="is being written by process"):
            claim_run_dir(tmp_path / "run", overwrite=True)
        with pytest.raises(RunFolderBusy, match="still being written"):
            load_run(tmp_path / "run")
    finally:
        holder.communicate("")
    claim_run_dir(tmp_path / "run").release()  # the lock died with its process


def test_sigkill_while_writing_results_then_evaluate_and_report_read_nothing(tmp_path):
    sweep = tmp_path / "sweep"
    # Job 0: killed after model.pt was saved, while the run writes its results (test phase).
    run = train_py(sweep / "0", "+callbacks.kill._target_=killer.KillAtHook",
                   "+callbacks.kill.hook=on_test_start")
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert (sweep / "0" / "model.pt").is_file()
    assert json.loads((sweep / "0" / "result.json").read_text())["status"] == "running"
    # Job 1: whole; then its evaluation is SIGKILLed after writing scores.csv, before its record.
    train(sweep / "1")
    (sweep / "1" / ".hydra").mkdir()  # a job of the sweep for the report (trained in-process)
    code = ("import sys; sys.path.insert(0, 'tests'); from priors.evaluation import "
            f"evaluate_run; evaluate_run({str(sweep / '1')!r}, methods=['grad'], metrics="
            "{'kpm': {}, 'killed': {'_target_': 'killer.kill_now', '_partial_': True}}, "
            "fractions=[0.25, 1.0], n_examples=20, progress=False, plots=False, threads=1)")
    killed = script("-c", code)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (sweep / "1" / "evaluation" / "scores.csv").is_file()
    assert not list((sweep / "1" / "evaluation").glob(f"{atomic.TEMP_PREFIX}*"))
    jobs = collect([sweep]).set_index("job")  # the killed evaluation is not read
    assert "eval/kpm/grad" not in jobs.columns
    assert "interrupted before it finished" in jobs.loc[str(sweep / "1"), "error"]
    # evaluate.py over the sweep: job 0 is named as interrupted, job 1 is evaluated.
    ev = script("evaluate.py", f"run={sweep}", "method=[grad]", "metric=[kpm]", "n_examples=20",
                "fractions.num=2", "progress=false", "threads=1")
    assert ev.returncode != 0
    assert "1 of 2 runs could not be evaluated" in ev.stderr, ev.stderr[-2000:]
    assert f"{sweep / '0'}: IncompleteRunError" in ev.stderr and "interrupted" in ev.stderr
    record = json.loads((sweep / "1" / "evaluation" / "evaluation.json").read_text())
    assert record["status"] == "ok"
    with pytest.raises(IncompleteRunError, match="status interrupted"):
        load_run(sweep / "0")
    jobs = collect([sweep]).set_index("job")
    assert jobs.loc[str(sweep / "0"), "status"] == "interrupted"
    assert pd.isna(jobs.loc[str(sweep / "0")].get("test/auroc"))
    assert jobs.loc[str(sweep / "1"), "status"] == "ok"
    assert jobs.loc[str(sweep / "1"), "eval/kpm/grad"] == pytest.approx(
        pd.read_csv(sweep / "1" / "evaluation" / "scores.csv")["auc"].iloc[0])


def test_killed_evaluation_is_not_read_and_no_half_file_is_left(tmp_path):
    """SIGKILL inside the atomic writer (a real process): the target file keeps its old
    content and the report does not use the unfinished evaluation."""
    target = tmp_path / "scores.csv"
    target.write_text("metric,method,auc\nkpm,grad,0.25\n")
    code = ("import os, signal; from priors.runs.atomic import atomic_path\n"
            f"with atomic_path({str(target)!r}) as tmp:\n"
            "    tmp.write_text('metric,method,auc\\nkpm,grad,0.')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    assert script("-c", code).returncode == -signal.SIGKILL
    assert target.read_text() == "metric,method,auc\nkpm,grad,0.25\n"


def test_rerun_into_a_finished_folder_refuses_and_overwrite_moves_it_aside(tmp_path):
    run_dir = tmp_path / "run"
    train(run_dir)
    evaluate_run(run_dir, **EVAL)
    first = json.loads((run_dir / "result.json").read_text())
    with pytest.raises(RunFolderTaken, match="already holds a run"):
        train(run_dir, "prior=grad")
    assert json.loads((run_dir / "result.json").read_text()) == first  # untouched
    train(run_dir, "prior=grad", "overwrite=true")
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.replaced-")]
    assert len(aside) == 1 and (aside[0] / "evaluation" / "scores.csv").is_file()
    assert json.loads((aside[0] / "result.json").read_text())["run_id"] == first["run_id"]
    assert not (run_dir / "evaluation").exists()  # the old evaluation left with its model
    assert json.loads((run_dir / "result.json").read_text())["config"]["prior"]["method"] == "grad"


def test_report_ignores_an_evaluation_of_another_model(tmp_path):
    # Two runs; run b's folder receives run a's (finished) evaluation: stale for b's model.
    for name, seed in (("a", 0), ("b", 1)):
        train(tmp_path / "sweep" / name / "job", f"seed={seed}")
        (tmp_path / "sweep" / name / "job" / ".hydra").mkdir()
        (tmp_path / "sweep" / name / "job" / ".hydra" / "overrides.yaml").write_text("[]")
    evaluate_run(tmp_path / "sweep" / "a" / "job", **EVAL)
    shutil.copytree(tmp_path / "sweep" / "a" / "job" / "evaluation",
                    tmp_path / "sweep" / "b" / "job" / "evaluation")
    jobs = collect([tmp_path / "sweep"]).set_index("job")
    a, b = str(tmp_path / "sweep" / "a" / "job"), str(tmp_path / "sweep" / "b" / "job")
    assert not pd.isna(jobs.loc[a, "eval/kpm/grad"])
    assert pd.isna(jobs.loc[b, "eval/kpm/grad"])
    assert "stale: it scored another model.pt" in jobs.loc[b, "error"]
    # An interrupted re-evaluation of a: its record says running, its files are not used.
    record = tmp_path / "sweep" / "a" / "job" / "evaluation" / "evaluation.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "status": "running"}))
    jobs = collect([tmp_path / "sweep"]).set_index("job")
    assert "eval/kpm/grad" not in jobs.columns and "interrupted" in jobs.loc[a, "error"]
