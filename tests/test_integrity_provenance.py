"""Provenance and damaged files (issue 20, groups 2 and 9, acceptance 3).

The data rebuilt for an evaluation must be the data the model was trained on (file hashes,
split digests, seed), checked by ``evaluate.py``, ROAR and the run loader; a damaged
``model.pt``, ``result.json`` or ``scores.csv`` gives a message naming the file and the
damage, and one bad job does not stop a report.
"""
import json
import shutil

import pandas as pd
import pytest
import torch

from integrity_runs import script, train
from priors.data.example_csv import example_table, write_example_csv
from priors.evaluation import evaluate_run
from priors.evaluation.load import DataChangedError, load_run
from priors.app.evaluate import evaluate as evaluate_sweep
from priors.evaluation.roar import run_roar
from priors.report import collect
from priors.runs.weights import WeightsError

CSV = ["data=csv", "data.label=died", "data.index_col=id", "data.categorical=[smoker,region]"]
EVAL = dict(methods=["grad"], metrics=["kpm"], fractions=[0.25, 1.0], n_examples=20,
            progress=False, plots=False, threads=1)


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv_run")
    path = write_example_csv(root / "patients.csv", n_rows=200)
    train(root / "run", *CSV, f"data.path={path}")
    return root


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_run")
    train(root / "run")
    return root / "run"


def _copy(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def test_csv_changed_after_training_is_refused_then_allowed_and_recorded(csv_run, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(csv_run, root)
    run_dir = root / "run"
    # Point the copied run at the copied CSV, then append 100 rows to it.
    result = json.loads((run_dir / "result.json").read_text())
    old_path = result["config"]["data"]["path"]
    result["config"]["data"]["path"] = str(root / "patients.csv")
    data = result["provenance"]["data"]
    data["config"]["data"]["path"] = str(root / "patients.csv")
    data["files"] = {str((root / "patients.csv").resolve()): v for v in data["files"].values()}
    (run_dir / "result.json").write_text(json.dumps(result))
    load_run(run_dir)  # unchanged so far: accepted
    extra = example_table(100, seed=5)
    extra["id"] += 1000
    extra.to_csv(root / "patients.csv", mode="a", header=False, index=False)
    ev = script("evaluate.py", f"run={run_dir}", "method=[grad]", "metric=[kpm]",
                "fractions.num=2", "progress=false", "threads=1")
    assert ev.returncode != 0
    assert "patients.csv changed since training" in ev.stderr, ev.stderr[-3000:]
    assert "the test split has 45 examples now, 30 at training" in ev.stderr
    assert "allow_data_change=true" in ev.stderr
    assert not (run_dir / "evaluation" / "scores.csv").exists()
    with pytest.raises(DataChangedError):
        run_roar(run_dir, methods=["grad"], fractions=[0.5], modes=["roar"], seeds=[0],
                 retrain=False)
    out = evaluate_run(run_dir, allow_data_change=True, **EVAL)
    record = json.loads((out["out_dir"] / "evaluation.json").read_text())
    assert record["status"] == "ok" and record["allow_data_change"] is True
    assert any("changed since training" in r for r in record["data_changes"])
    assert "data changed since training" in (out["out_dir"] / "summary.md").read_text()
    assert old_path != str(root / "patients.csv")


@pytest.mark.parametrize("key, value, reason", [
    ("seed", 1, "data.seed: 0 -> 1"),
    ("n_samples", 300, "data.n_samples: 200 -> 300"),
])
def test_edited_data_config_in_result_json_is_refused(synthetic_run, tmp_path, key, value,
                                                       reason):
    run_dir = _copy(synthetic_run, tmp_path)
    result = json.loads((run_dir / "result.json").read_text())
    result["config"]["data"][key] = value
    (run_dir / "result.json").write_text(json.dumps(result))
    with pytest.raises(DataChangedError, match=reason):
        load_run(run_dir)


def test_damaged_model_pt_is_explained_and_never_suggests_full_unpickling(synthetic_run,
                                                                           tmp_path):
    run_dir = _copy(synthetic_run, tmp_path)
    weights = run_dir / "model.pt"
    good = weights.read_bytes()
    cases = {b"": "is empty \\(0 bytes\\): it was truncated",
             good[: len(good) // 2]: "truncated: [0-9]+ bytes, result.json records [0-9]+",
             b"\x80\x04not a torch file" + bytes(len(good) - 18): "corrupt: not a torch"}
    for content, message in cases.items():
        weights.write_bytes(content)
        with pytest.raises(WeightsError, match=message) as err:
            load_run(run_dir)
        assert "weights_only=False" not in str(err.value) and "model.pt" in str(err.value)
        # torch's own message (which advises weights_only=False) is not chained either.
        assert err.value.__context__ is None or err.value.__suppress_context__
    # Readable weights, but another run's (same architecture): named as such.
    weights.write_bytes(good)
    state = torch.load(weights, weights_only=True)
    torch.save({k: v + 1 for k, v in state.items()}, weights)
    with pytest.raises(WeightsError, match="not the model result.json describes"):
        load_run(run_dir)
    # Without a record (a run from before records): the damage is still classified.
    result = json.loads((run_dir / "result.json").read_text())
    del result["files"]
    (run_dir / "result.json").write_text(json.dumps(result))
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(WeightsError, match="truncated: the torch archive ends"):
        load_run(run_dir)


def test_weights_of_another_architecture_list_the_config_keys(synthetic_run, tmp_path):
    run_dir = _copy(synthetic_run, tmp_path)
    result = json.loads((run_dir / "result.json").read_text())
    result["config"]["model"]["hidden"] = [16]
    (run_dir / "result.json").write_text(json.dumps(result))
    with pytest.raises(WeightsError, match=r"another architecture .*shape mismatch: "
                                           r"net.1.weight \(8, 20\) in the file, \(16, 20\).*"
                                           r"model.hidden: \[8\] -> \[16\]"):
        load_run(run_dir)


def test_sweep_wide_evaluate_goes_on_past_a_truncated_model(synthetic_run, tmp_path):
    from omegaconf import OmegaConf

    for job in ("0", "1", "2"):
        shutil.copytree(synthetic_run, tmp_path / "sweep" / job)
    weights = tmp_path / "sweep" / "0" / "model.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    cfg = OmegaConf.create({"run": str(tmp_path / "sweep"), "method": ["grad"],
                            "metric": ["kpm"], **{k: v for k, v in EVAL.items()
                                                  if k not in ("methods", "metrics")}})
    with pytest.raises(RuntimeError, match="1 of 3 runs could not be evaluated") as err:
        evaluate_sweep(cfg)
    assert f"{tmp_path / 'sweep' / '0'}: WeightsError" in str(err.value)
    assert "truncated" in str(err.value)
    for job in ("1", "2"):  # the jobs after the broken one were evaluated
        record = tmp_path / "sweep" / job / "evaluation" / "evaluation.json"
        assert json.loads(record.read_text())["status"] == "ok"


def _job(root, name, result=None, text=None, scores=None, record=True):
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(f"- seed={name}\n")
    (job / ".hydra" / "config.yaml").write_text("seed: 0\nprior:\n  method: none\n")
    if result is not None:
        text = json.dumps(result)
    if text is not None:
        (job / "result.json").write_text(text)
    if scores is not None:
        (job / "evaluation").mkdir()
        (job / "evaluation" / "scores.csv").write_text(scores)
        if record:
            (job / "evaluation" / "evaluation.json").write_text(json.dumps(
                {"status": "ok", "run_id": (result or {}).get("run_id")}))
    return str(job)


def test_one_bad_file_does_not_stop_the_report(tmp_path):
    good = {"status": "ok", "run_id": "r", "metrics": {"test/auroc": 0.7, "val/auroc_best": 0.6}}
    jobs = {
        "empty_scores": _job(tmp_path, "1", good, scores=""),
        "not_object": _job(tmp_path, "2", text="[1, 2]"),
        "string_metric": _job(tmp_path, "3", {**good, "metrics": {"test/auroc": "0.9x",
                                                                  "val/auroc_best": 0.5}}),
        "cut_line": _job(tmp_path, "4", good, scores="metric,method,auc\nkpm,grad,0.31\nkpm,ig,"),
        "empty_result": _job(tmp_path, "5", text=""),
    }
    frame = collect([tmp_path]).set_index("job")
    row = frame.loc[jobs["empty_scores"]]
    assert row["status"] == "ok" and "scores.csv unreadable" in row["error"]
    row = frame.loc[jobs["not_object"]]
    assert row["status"] == "unreadable" and "holds a JSON list, not an object" in row["error"]
    row = frame.loc[jobs["string_metric"]]
    assert pd.isna(row["test/auroc"]) and "metric 'test/auroc' is not a number" in row["error"]
    row = frame.loc[jobs["cut_line"]]
    assert row["eval/kpm/grad"] == 0.31 and pd.isna(row.get("eval/kpm/ig"))
    assert frame.loc[jobs["empty_result"], "status"] == "unreadable"
    assert "is empty (0 bytes)" in frame.loc[jobs["empty_result"], "error"]
