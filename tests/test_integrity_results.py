"""Results that mean something, interrupted work that shows (issue 20, groups 6, 7, 10).

Settings that used to end ``status: ok`` with a meaningless number are refused with the key
named; a report's ``n`` counts the values behind its mean; an interrupted sweep lists the
jobs that never started, and Ctrl+C is recorded as ``interrupted``.
"""
import json

import pytest
import torch

from integrity_runs import config, script, train
from priors.data import SyntheticTabularDataModule
from priors.evaluation import dataset_tensors, evaluate_run
from priors.report import collect, summarize

EVAL = dict(methods=["grad"], metrics=["kam"], fractions=[0.25, 1.0], progress=False,
            plots=False, threads=1)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("results_run")
    train(root / "run")
    return root / "run"


@pytest.mark.parametrize("options, message", [
    ({"n_examples": 1}, "n_examples must be >= 2, got 1"),
    ({"n_examples": -5}, "n_examples must be >= 2, got -5"),
    ({"n_examples": 0}, "n_examples must be >= 2, got 0"),
    ({"n_examples": "abc"}, "n_examples must be an integer, got 'abc'"),
    ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ({"methods": []}, "method is empty"),
])
def test_evaluation_options_that_give_no_meaningful_number(tmp_path, options, message):
    # Checked before the run is read: any folder will do.
    with pytest.raises((ValueError, TypeError), match=message):
        evaluate_run(tmp_path, **{**EVAL, **options})


def test_single_class_evaluation_subset_has_no_auroc(synthetic_run):
    loaded_test = SyntheticTabularDataModule(n_samples=200, seed=0)
    loaded_test.setup("fit")
    # A seed whose 2-example subset is of one class (the subset evaluate_run draws).
    seed = next(s for s in range(50)
                if dataset_tensors(loaded_test.test_dataset, 2, s)[1].unique().numel() == 1)
    with pytest.raises(ValueError, match="hold a single class: AUROC \\(KAM/RAM\\) is undefined"):
        evaluate_run(synthetic_run, n_examples=2, seed=seed, **{k: v for k, v in EVAL.items()})


def test_single_class_split_is_refused_before_training():
    dm = SyntheticTabularDataModule(n_samples=10, seed=0)  # test split: 2 rows, both class 1
    with pytest.raises(ValueError, match="the test split has 2 rows, all of class 1"):
        dm.setup("fit")


@pytest.mark.parametrize("override, message", [
    ("trainer.max_epochs=0", "trainer.max_epochs=0 trains nothing"),
    ("seed=-1", "seed must be an integer >= 0, got -1"),
    ("seed=abc", "seed must be an integer >= 0, got 'abc'"),
    ("threads=-2", "threads must be an integer >= 1, got -2"),
])
def test_run_settings_refused_with_the_key(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        train(tmp_path / "run", override)
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "failed"


def test_unknown_optimized_metric_is_an_error_not_nan(tmp_path):
    from priors.app.train import _train  # the Hydra task function of train.py

    cfg = config(tmp_path / "run", "optimized_metric=val/aurocc")
    torch.set_num_threads(1)
    with pytest.raises(KeyError, match="optimized_metric='val/aurocc' is not a metric of this "
                                       "run; its metrics: .*'val/auroc_best'"):
        _train.__wrapped__(cfg)


def _job(root, name, auroc, seed):
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / "result.json").write_text(json.dumps({
        "status": "ok", "config": {"seed": seed, "prior": {"method": "none"}},
        "metrics": {"test/auroc": auroc, "val/auroc_best": 0.6}}))


def test_report_n_counts_the_values_behind_the_mean(tmp_path):
    _job(tmp_path, "0", 0.7, 0)
    _job(tmp_path, "1", float("nan"), 1)
    table = summarize(collect([tmp_path]))
    assert table["n"].tolist() == [1] and table["test/auroc"].tolist() == [0.7]


def test_interrupted_sweep_lists_never_started_jobs_and_ctrl_c_is_interrupted(tmp_path):
    sweep = tmp_path / "sweep"
    run = script("train.py", "-m", f"hydra.sweep.dir={sweep}", "data=synthetic",
                 "data.n_samples=200", "model.hidden=[8]", "trainer.max_epochs=1",
                 "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "logger=none",
                 "threads=1", "prior=grad", "prior.weight=0.1,0.2,0.3",
                 "+callbacks.stop._target_=killer.InterruptAtStep", "+callbacks.stop.step=1")
    assert run.returncode != 0
    plan = json.loads((sweep / "planned_jobs.json").read_text())
    weights = [[o for o in j["overrides"] if o.startswith("prior.weight=")] for j in plan["jobs"]]
    assert weights == [[f"prior.weight={w}"] for w in (0.1, 0.2, 0.3)]
    result = json.loads((sweep / "0" / "result.json").read_text())
    assert result["status"] == "interrupted", result.get("error")
    jobs = collect([sweep]).set_index("job")
    assert jobs["status"].to_dict() == {str(sweep / "0"): "interrupted",
                                        str(sweep / "1"): "not started",
                                        str(sweep / "2"): "not started"}
    assert "prior.weight=0.3" in jobs.loc[str(sweep / "2"), "overrides"]
    out = tmp_path / "report"
    rep = script("-m", "priors.report", str(sweep), "--out", str(out), "--no-plot")
    assert rep.returncode == 0, rep.stderr[-2000:]
    text = (out / "table.md").read_text()
    assert "3 jobs: 0 ok, 0 failed, 0 unfinished, 1 interrupted, 2 not started." in text
