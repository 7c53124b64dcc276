"""CSVDataModule (data=csv) on generated files, each bad file, and the shap NHANES layout."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

import priors.data.nhanes as nhanes_mod
from priors.data import CSVDataModule, NHANESDataModule
from priors.data.download import DatasetNotFoundError, DownloadError
from priors.data.example_csv import example_table, write_example_csv
from priors.data.nhanes import NHANES_FULL_FILES
from priors.pipeline import build
from priors.app import TRAIN_CONF

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def patients(tmp_path_factory) -> Path:
    return write_example_csv(tmp_path_factory.mktemp("csv") / "patients.csv")


def _dm(path, **kw):
    kw.setdefault("label", "died")
    kw.setdefault("index_col", "id")
    kw.setdefault("categorical", ["smoker", "region"])
    return CSVDataModule(path, **kw)


def test_binary_table_with_categoricals(patients):
    dm = _dm(patients)
    dm.setup()
    assert dm.feature_names == ["age", "sbp", "bmi", "smoker=no", "smoker=yes", "region=east",
                                "region=north", "region=south", "region=west"]
    assert dm.task == "binary" and dm.num_classes == 1 and dm.classes == [0, 1]
    sizes = [len(d) for d in (dm.train_dataset, dm.val_dataset, dm.test_dataset)]
    assert sum(sizes) == 400 and abs(sizes[1] - 60) <= 1 and abs(sizes[2] - 60) <= 1
    x, y = dm.train_dataset.tensors
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    assert set(y.unique().tolist()) == {0.0, 1.0} and torch.isfinite(x).all()
    # one-hot columns: exactly one 1 per row and group, before scaling
    raw = dm.raw_features
    assert (raw[:, 3:5].sum(1) == 1).all() and (raw[:, 5:9].sum(1) == 1).all()
    # train-only statistics: train standardized exactly, val/test not
    torch.testing.assert_close(x.double().mean(0), torch.zeros(9, dtype=torch.float64),
                               atol=1e-5, rtol=0)
    table = example_table()
    train_bmi = table["bmi"].to_numpy()[dm.train_idx]
    assert dm.impute_mean_[2] == pytest.approx(np.nanmean(train_bmi), rel=1e-12)
    assert dm.impute_mean_[2] != pytest.approx(np.nanmean(table["bmi"]), rel=1e-6)
    # labels are the file's, row for row
    assert dm.labels.tolist() == table["died"].tolist()
    # stratified: every split has about the file's share of deaths (within 5 points)
    rate = table["died"].mean()
    for idx in (dm.train_idx, dm.val_idx, dm.test_idx):
        assert abs(dm.labels[idx].mean() - rate) < 0.05


def test_learnable_risk_factors_dominate(patients):
    """A logistic fit on the training split finds age, smoking and sbp, not bmi or region."""
    from sklearn.linear_model import LogisticRegression

    dm = _dm(patients, split="small_data", n_train=300, n_val=50)
    x, y = (t.numpy() for t in dm.train_dataset.tensors)
    coef = np.abs(LogisticRegression(max_iter=1000).fit(x, y).coef_[0])
    names = dm.feature_names
    strong = min(coef[names.index(n)] for n in ("age", "sbp"))
    assert strong > 2 * max(coef[names.index(n)] for n in ("bmi", "region=east", "region=west"))


def test_multiclass_and_features_subset(tmp_path):
    table = example_table(300)
    table["risk"] = pd.cut(table["age"], [0, 45, 62, 100], labels=["low", "mid", "high"])
    path = tmp_path / "risk.csv"
    table.drop(columns="died").to_csv(path, index=False)
    dm = CSVDataModule(path, label="risk", features=["sbp", "bmi", "smoker"],
                       categorical=["smoker"], split="small_data", n_train=100, n_val=50)
    assert dm.task == "multiclass" and dm.num_classes == 3
    assert dm.classes == ["high", "low", "mid"]  # sorted label values
    assert dm.feature_names == ["sbp", "bmi", "smoker=no", "smoker=yes"]
    y = dm.train_dataset.tensors[1]
    assert y.dtype == torch.int64 and set(y.tolist()) == {0, 1, 2}
    expected = table["risk"].map({"high": 0, "low": 1, "mid": 2}).to_numpy()
    np.testing.assert_array_equal(dm.labels, expected)


def test_positive_label_and_missing_labels(tmp_path):
    table = example_table(200)
    table["outcome"] = np.where(table["died"] == 1, "dead", "alive")
    table.loc[:4, "outcome"] = np.nan
    path = tmp_path / "t.csv"
    table.drop(columns="died").to_csv(path, index=False)
    dm = _dm(path, label="outcome", positive_label="alive")
    assert dm.classes == ["dead", "alive"] and len(dm.labels) == 195
    assert dm.labels.tolist() == (table["outcome"][5:] == "alive").astype(int).tolist()


def test_nhanes_through_the_csv_path_matches_the_nhanes_module(nhanes_dir):
    """The shap layout + survival rule reproduce NHANESDataModule exactly (same rule, split)."""
    csv = CSVDataModule(nhanes_dir / "NHANESI_subset_X.csv", label="y",
                        label_path=nhanes_dir / "NHANESI_subset_y.csv", label_rule="survival",
                        horizon_years=10)
    ref = NHANESDataModule(data_dir=nhanes_dir)
    assert len(csv.labels) == 9535 and int(csv.labels.sum()) == 1503
    assert csv.feature_names == ref.feature_names and csv.task == "binary"
    for name in ("train_dataset", "val_dataset", "test_dataset"):
        for a, b in zip(getattr(csv, name).tensors, getattr(ref, name).tensors):
            assert torch.equal(a, b)


def test_full_nhanes_matrix_downloads_with_its_checksum(tmp_path, monkeypatch):
    monkeypatch.setattr(nhanes_mod, "NHANES_URL_BASE", "http://127.0.0.1:9/")  # closed port
    dm = CSVDataModule(tmp_path / "NHANESI_X.csv", label="y", label_path=tmp_path / "NHANESI_y.csv",
                       label_rule="survival")
    with pytest.raises(DownloadError) as info:
        dm.prepare_data()
    msg = str(info.value)
    assert "http://127.0.0.1:9/NHANESI_X.csv" in msg and NHANES_FULL_FILES["NHANESI_X.csv"] in msg


# ----------------------------------------------------------------------------- bad files


def _write(tmp_path, table: pd.DataFrame) -> Path:
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    return path


def test_missing_label_column(tmp_path, patients):
    with pytest.raises(ValueError, match=r"label column 'dead' not in patients.csv; its columns "
                                         r"are \['age', 'sbp'"):
        _dm(patients, label="dead").setup()


def test_non_numeric_feature_not_declared_categorical(patients):
    with pytest.raises(ValueError, match=r"feature column 'region' of patients.csv is not numeric "
                                         r"\(value '.*' in row .*declare it categorical"):
        _dm(patients, categorical=["smoker"]).setup()


def test_single_class(tmp_path):
    table = example_table(100).assign(died=1)
    with pytest.raises(ValueError, match="has a single class \\[1\\]"):
        _dm(_write(tmp_path, table)).setup()


def test_too_few_rows_for_the_split(tmp_path):
    with pytest.raises(ValueError, match="Too few rows for split='stratified'.*10 labelled rows"):
        _dm(_write(tmp_path, example_table(10))).setup()
    with pytest.raises(ValueError, match="n_train \\+ n_val must be < the number of labelled rows"):
        _dm(_write(tmp_path, example_table(150)), split="small_data").setup()


def test_missing_file_and_unknown_columns(tmp_path, patients):
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(tmp_path / "nope.csv"))):
        _dm(tmp_path / "nope.csv").prepare_data()
    with pytest.raises(ValueError, match=r"features \['height'\] are not columns"):
        _dm(patients, features=["age", "height"]).setup()
    with pytest.raises(ValueError, match=r"categorical columns \['sex'\] are not features"):
        _dm(patients, categorical=["sex"]).setup()
    with pytest.raises(ValueError, match="label_rule must be one of"):
        _dm(patients, label_rule="regression")
    with pytest.raises(ValueError, match="needs numeric survival times"):
        _dm(patients, label="smoker", categorical=["region"], label_rule="survival").setup()


# ----------------------------------------------------------------------------- docs + Hydra


def _readme_command() -> str:
    """The command of the how-to page "Your own CSV" (moved there from the README)."""
    text = (REPO / "docs" / "how-to" / "your-own-csv.md").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("python train.py data=csv")]
    return line


def test_readme_csv_command_trains(tmp_path, monkeypatch):
    """The docs' command, on the CSV their first line generates, builds and fits one epoch."""
    monkeypatch.chdir(tmp_path)
    write_example_csv("patients.csv")
    overrides = _readme_command().split()[2:]
    with initialize_config_dir(config_dir=str(TRAIN_CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides + [
            f"paths.output_dir={tmp_path}", "logger=none", "trainer.max_epochs=1",
            "++trainer.enable_progress_bar=false"])
    dm, module, trainer = build(cfg)
    assert dm.num_features == 9 and module.prior is not None
    trainer.fit(module, datamodule=dm)
    assert torch.isfinite(trainer.callback_metrics["val/auroc"])
