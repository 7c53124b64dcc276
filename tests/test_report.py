"""priors.report on generated multirun directories with known metrics."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from priors.report import collect, main, summarize, write_report

BASE_AUROC = [0.70, 0.72, 0.69, 0.71, 0.73]
GAINS = [0.010, 0.030, 0.000, 0.020, 0.015]


def make_job(root, num, method, weight, seed, status="ok", test=None, val=None, extra=None,
             n_irrelevant=0, with_result=True, **prior_settings):
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    prior = {"_target_": "priors.prior.make_prior", "method": method, "penalty": "gini",
             "weight": weight, "k": 1, **prior_settings}
    config = {"seed": seed, "prior": prior, "paths": {"output_dir": str(job)},
              "model": {"_target_": "priors.models.MLP", "bias": False},
              "data": {"split": "small_data", "n_irrelevant": n_irrelevant, "seed": seed}}
    overrides = [f"prior={method}", f"prior.weight={weight}", f"seed={seed}"]
    (job / ".hydra" / "config.yaml").write_text(json.dumps(config))  # JSON is valid YAML
    (job / ".hydra" / "overrides.yaml").write_text(json.dumps(overrides))
    if not with_result:
        return job
    result = {"status": status, "config": config, "seconds": 1.0}
    if status == "ok":
        result["metrics"] = {"test/auroc": test, "val/auroc_best": val, "best_step": 3.0,
                             **(extra or {})}
    elif status == "failed":
        result["error"] = "RuntimeError: boom\nsecond line of the error"
    (job / "result.json").write_text(json.dumps(result))
    return job


@pytest.fixture
def sweep(tmp_path):
    """none + xg at two weights, five seeds; xg 0.1 gains GAINS, xg 1.0 loses 0.05 on test
    but has the better validation score only at 0.1. One failed and one unfinished job."""
    root = tmp_path / "multirun"
    num = 0
    for seed, (base, gain) in enumerate(zip(BASE_AUROC, GAINS)):
        make_job(root, num, "none", 0.0, seed, test=base, val=0.80); num += 1
        make_job(root, num, "xg", 0.1, seed, test=base + gain, val=0.82,
                 extra={"prior_cost/mean_ratio": 2.0 + seed / 10}); num += 1
        make_job(root, num, "xg", 1.0, seed, test=base - 0.05 - seed / 1000, val=0.81); num += 1
    make_job(root, num, "xg", 1.0, 5, status="failed"); num += 1
    make_job(root, num, "xg", 0.1, 6, with_result=False)
    return root


def test_collect_lists_every_job(sweep):
    jobs = collect([sweep])
    assert len(jobs) == 17
    assert jobs["status"].value_counts().to_dict() == {"ok": 15, "failed": 1, "unfinished": 1}
    failed = jobs[jobs["status"] == "failed"].iloc[0]
    assert failed["error"] == "second line of the error"
    assert "prior.weight=1.0" in failed["overrides"]
    assert set(jobs["variant"]) == {"-"}  # only prior and seed vary


def test_summary_paired_t_test_and_selection(sweep):
    table = summarize(collect([sweep]))
    assert list(table["method"]) == ["none", "xg", "xg"]
    assert list(table["n"]) == [5, 5, 5]
    none, xg01, xg1 = (table.iloc[i] for i in range(3))
    assert math.isnan(none["weight"]) and none["selected"]
    assert xg01["weight"] == 0.1 and xg01["selected"] and not xg1["selected"]
    assert xg01["test/auroc"] == pytest.approx(np.mean(BASE_AUROC) + np.mean(GAINS))
    se = np.std(np.add(BASE_AUROC, GAINS), ddof=1) / np.sqrt(5)
    assert xg01["test/auroc se"] == pytest.approx(se)
    # Paired t-test by hand: t = mean(d) / (sd(d) / sqrt(n)), two-sided.
    d = np.array(GAINS)
    t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))
    assert xg01["t"] == pytest.approx(t)
    assert xg01["p (paired t)"] == pytest.approx(2 * stats.t.sf(abs(t), df=len(d) - 1))
    assert xg01["delta"] == pytest.approx(d.mean()) and xg01["n pairs"] == 5
    assert xg01["prior_cost/mean_ratio"] == pytest.approx(2.2)
    assert xg1["delta"] == pytest.approx(-0.052)
    assert (xg1["failed"], xg01["unfinished"], none["failed"]) == (1, 1, 0)
    assert math.isnan(none["p (paired t)"])


def test_pairs_only_shared_seeds_and_variants(tmp_path):
    root = tmp_path / "sweep"
    make_job(root, 0, "none", 0.0, 0, test=0.70, val=0.8)
    make_job(root, 1, "none", 0.0, 1, test=0.60, val=0.8)
    make_job(root, 2, "eg", 0.1, 1, test=0.65, val=0.8)
    make_job(root, 3, "eg", 0.1, 2, test=0.90, val=0.8)
    make_job(root, 4, "none", 0.0, 1, test=0.50, val=0.8, n_irrelevant=95)
    make_job(root, 5, "eg", 0.1, 1, test=0.52, val=0.8, n_irrelevant=95)
    table = summarize(collect([root])).set_index(["variant", "method"])
    plain = table.loc[("data.n_irrelevant=0", "eg(k=1)")]
    assert plain["n pairs"] == 1 and plain["delta"] == pytest.approx(0.05)
    assert plain["baseline on pairs"] == pytest.approx(0.60)  # seed 1 only, not both seeds
    assert math.isnan(plain["p (paired t)"])  # one pair: no test, not a made-up number
    assert table.loc[("data.n_irrelevant=95", "eg(k=1)"), "delta"] == pytest.approx(0.02)


def test_write_report_files_and_cli(sweep, tmp_path, capsys):
    out = tmp_path / "report"
    assert main([str(sweep), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("jobs.csv", "table.csv", "table.md", "table.png"):
        assert (out / name).stat().st_size > 0
    table = pd.read_csv(out / "table.csv")
    expected = {"p (paired t)", "test/auroc", "test/auroc se", "selected", "failed"}
    assert expected <= set(table.columns)
    md = (out / "table.md").read_text()
    assert "p (paired t)" in md and "## Failed or unfinished jobs" in md
    assert "unfinished" in printed and "prior.weight=1.0 seed=5" in md


def test_clear_errors(tmp_path, sweep, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert "no such multirun directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no Hydra job directories"):
        collect([tmp_path / "empty"])
    with pytest.raises(KeyError, match="test/acc"):
        write_report([sweep], tmp_path / "r", metric="test/acc", plot=False)


def test_evaluation_scores_become_columns(sweep, tmp_path):
    """evaluate.py's <job>/evaluation/scores.csv: per-setting means of the curve areas."""
    areas = {}
    for num in (1, 4, 7):  # three seeds of xg at weight 0.1
        kpm = 1.0 + num / 10
        areas.setdefault("xg", []).append(kpm)
        (sweep / str(num) / "evaluation").mkdir()
        pd.DataFrame({"metric": ["kpm", "ram"], "method": ["ig", "ig"], "auc": [kpm, 0.6],
                      "higher_is_better": [True, False]}).to_csv(
            sweep / str(num) / "evaluation" / "scores.csv", index=False)
    jobs = collect([sweep])
    assert len(jobs) == 17  # evaluation/ folders are not jobs
    table = summarize(jobs)
    xg = table[(table["method"] == "xg") & (table["weight"] == 0.1)].iloc[0]
    assert xg["eval/kpm/ig"] == pytest.approx(np.mean(areas["xg"]))
    assert xg["eval/ram/ig"] == pytest.approx(0.6)
    assert math.isnan(table[table["method"] == "none"].iloc[0]["eval/kpm/ig"])
    paths = write_report([sweep], tmp_path / "report", plot=False)
    assert "eval/kpm/ig" in paths["markdown"].read_text()


def test_every_non_default_prior_setting_makes_its_own_row(tmp_path):
    """Two sweeps differing only in prior.target (and EG's k) give separate rows, never a row
    pooling the seeds of both."""
    root = tmp_path / "multirun"
    num = 0
    for seed in range(3):
        make_job(root, num, "none", 0.0, seed, test=0.70, val=0.80); num += 1
        make_job(root, num, "xg", 0.1, seed, test=0.71, val=0.81, target="label"); num += 1
        make_job(root, num, "xg", 0.1, seed, test=0.75, val=0.81, target="pred"); num += 1
        make_job(root, num, "eg", 0.1, seed, test=0.72, val=0.81, k=4); num += 1
    table = summarize(collect([root]))
    assert sorted(table["method"]) == ["eg(k=4)", "none", "xg", "xg(target=pred)"]
    assert list(table["n"]) == [3, 3, 3, 3]
    by_method = table.set_index("method")
    assert by_method.loc["xg(target=pred)", "test/auroc"] == pytest.approx(0.75)
    assert by_method.loc["xg", "test/auroc"] == pytest.approx(0.71)


@pytest.mark.parametrize("weights", [[0.1], [0.01, 0.1, 1.0]])
def test_plot_with_few_weights_lists_them_evenly_with_methods_side_by_side(tmp_path, weights):
    from priors.report.plot import table_figure

    root = tmp_path / "multirun"
    num = 0
    for seed, base in enumerate(BASE_AUROC[:3]):
        make_job(root, num, "none", 0.0, seed, test=base, val=0.80); num += 1
        for w in weights:
            for method in ("xg", "grad", "eg"):
                make_job(root, num, method, w, seed, test=base + 0.01, val=0.81); num += 1
    (ax,) = table_figure(summarize(collect([root]))).axes
    assert ax.get_xscale() == "linear"  # a log axis over one weight overlaps its tick labels
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{w:g}" for w in weights]
    # Each weight's methods stand together around its slot, not at opposite ends of the axis.
    xs = sorted(float(x) for bars in ax.containers for x in bars.lines[0].get_xdata())
    assert len(xs) == 3 * len(weights)
    slots = {round(x) for x in xs}
    assert slots == set(range(len(weights)))
    assert all(abs(x - round(x)) < 0.3 for x in xs)
    assert "test/auroc" in ax.get_title() and "sweep" not in ax.get_title()


def test_plot_with_many_weights_uses_a_log_axis(tmp_path):
    from priors.report.plot import table_figure

    root = tmp_path / "multirun"
    for num, w in enumerate([1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]):
        make_job(root, num, "xg", w, 0, test=0.7, val=0.8)
    (ax,) = table_figure(summarize(collect([root]))).axes
    assert ax.get_xscale() == "log"
