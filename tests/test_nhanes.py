"""Tests for the NHANES I mortality datamodule (real data; must run, not skip, in CI)."""

import time
import urllib.error

import numpy as np
import pytest
import torch

import priors.data.download as download_mod
import priors.data.nhanes as nhanes_mod
from priors.data import NHANESDataModule
from priors.data.download import DatasetNotFoundError, DownloadError, download_url, sha256sum
from priors.data.nhanes import (
    NHANES_FILES,
    NHANES_URL_BASE,
    load_nhanes,
    mortality_labels,
    resolve_data_dir,
)

N_RAW = 9932
N_LABELLED_10Y = 9535  # 9932 - 15 censored before 10 y - 382 with y == -0.0 (no follow-up)
N_POS_10Y = 1503


@pytest.fixture(scope="module")
def raw(nhanes_dir):
    return load_nhanes(nhanes_dir)


@pytest.fixture(scope="module")
def dm(nhanes_dir):
    dm = NHANESDataModule(data_dir=nhanes_dir)
    dm.prepare_data()
    dm.setup()
    return dm


@pytest.fixture(scope="module")
def small(nhanes_dir):
    return {
        seed: NHANESDataModule(data_dir=nhanes_dir, split="small_data", batch_size=None, seed=seed)
        for seed in (0, 1)
    }


# ----------------------------------------------------------------------------- raw data


# The SHA-256 of the shap repository's files (github.com/shap/shap, data/NHANESI_subset_*.csv)
# as recorded when they were packaged, written out here: the digests in priors.data.nhanes and
# the packaged bytes are checked against these literals, not against each other.
UPSTREAM_SHA256 = {
    "NHANESI_subset_X.csv": "cef5336deb83640da63adb3a36ddd436da49f685480c87a37c8b2959602bcb99",
    "NHANESI_subset_y.csv": "a26b0d295c0bbad0aa8034be8598274e35bd43c98e5a25cfcb407453cae4d7aa",
}


def test_files_match_upstream_checksums(nhanes_dir):
    import gzip
    import hashlib

    from priors.data.files import packaged_dir

    assert NHANES_FILES == UPSTREAM_SHA256
    for name, digest in UPSTREAM_SHA256.items():
        packaged = gzip.decompress((packaged_dir() / f"{name}.gz").read_bytes())
        assert hashlib.sha256(packaged).hexdigest() == digest, name
        assert sha256sum(nhanes_dir / name) == digest, name


def test_raw_shapes_and_zero_followup(raw):
    X, y = raw
    assert X.shape == (N_RAW, 18) and len(y) == N_RAW
    assert X.index.equals(y.index)
    assert int(X.isna().sum().sum()) == 2041
    zero = (y == 0).to_numpy()
    assert zero.sum() == 382 and np.signbit(y[zero]).all()  # stored as -0.0
    assert ((y >= -10) & (y < 0)).sum() == 15


def test_mortality_labels_rules():
    y = np.array([0.5, 10.0, 10.5, -10.5, -9.0, -10.0, 0.0, -0.0, np.nan, 3.0])
    keep, label = mortality_labels(y, 10.0)
    assert keep.tolist() == [True, True, True, True, False, False, False, False, False, True]
    assert label[keep].tolist() == [1, 1, 0, 0, 1]


# ----------------------------------------------------------------------------- labels / counts


def test_counts_horizon_10(dm):
    n = len(dm.train_dataset) + len(dm.val_dataset) + len(dm.test_dataset)
    assert n == len(dm.labels) == len(dm.patient_ids) == N_LABELLED_10Y
    assert int(dm.labels.sum()) == N_POS_10Y
    ys = torch.cat([d.tensors[1] for d in (dm.train_dataset, dm.val_dataset, dm.test_dataset)])
    assert ys.dtype == torch.float32 and set(ys.unique().tolist()) == {0.0, 1.0}
    assert int(ys.sum()) == N_POS_10Y


def test_keep_zero_followup_reproduces_readme_count(nhanes_dir):
    # The data README's 9917 subtracts only the 15 rows censored in (0, 10) years; it keeps the
    # 382 rows with y = -0.0 (no follow-up) as survivors. keep_zero_followup=True reproduces it.
    dm = NHANESDataModule(data_dir=nhanes_dir, keep_zero_followup=True)
    dm.setup()
    assert len(dm.labels) == 9917 == N_RAW - 15
    assert int(dm.labels.sum()) == N_POS_10Y


def test_horizon_15_has_larger_positive_share(nhanes_dir, dm):
    dm15 = NHANESDataModule(data_dir=nhanes_dir, horizon_years=15)
    dm15.setup()
    n15, pos15 = len(dm15.labels), int(dm15.labels.sum())
    assert (n15, pos15) == (9278, 2484)
    assert pos15 / n15 > N_POS_10Y / N_LABELLED_10Y


def test_labels_match_raw_y(dm, raw):
    _, y = raw
    yy = y.loc[dm.patient_ids].to_numpy()
    assert ((yy > 0) & (yy <= 10)).astype(int).tolist() == dm.labels.tolist()
    assert not (yy == 0).any()


# ----------------------------------------------------------------------------- splits


def test_stratified_split(dm):
    tr, va, te = dm.train_idx, dm.val_idx, dm.test_idx
    allidx = np.concatenate([tr, va, te])
    assert len(np.unique(allidx)) == len(allidx) == N_LABELLED_10Y
    assert abs(len(te) / N_LABELLED_10Y - 0.15) < 0.005
    assert abs(len(va) / N_LABELLED_10Y - 0.15) < 0.005
    rate = N_POS_10Y / N_LABELLED_10Y
    for idx in (tr, va, te):
        assert abs(dm.labels[idx].mean() - rate) < 0.005
    assert (dm.train_dataset.tensors[1].numpy() == dm.labels[tr]).all()


def test_small_data_split_sizes_and_reproducibility(nhanes_dir, small):
    a = small[0]
    sizes = tuple(len(d) for d in (a.train_dataset, a.val_dataset, a.test_dataset))
    assert sizes == (100, 100, N_LABELLED_10Y - 200)
    allidx = np.concatenate([a.train_idx, a.val_idx, a.test_idx])
    assert len(np.unique(allidx)) == N_LABELLED_10Y
    again = NHANESDataModule(data_dir=nhanes_dir, split="small_data", seed=0)
    for name in ("train_idx", "val_idx", "test_idx"):
        np.testing.assert_array_equal(getattr(a, name), getattr(again, name))
    torch.testing.assert_close(a.train_dataset.tensors[0], again.train_dataset.tensors[0])
    b = small[1]
    assert not np.array_equal(a.train_idx, b.train_idx)
    assert len(np.intersect1d(a.train_idx, b.train_idx)) < 20
    assert not np.allclose(a.scale_mean_, b.scale_mean_)  # stats refit per repetition


def test_setup_is_idempotent(dm):
    before = (dm.train_dataset, dm.train_idx, dm.scale_mean_)
    dm.setup("fit")
    dm.setup("test")
    assert dm.train_dataset is before[0] and dm.train_idx is before[1] and dm.scale_mean_ is before[2]


# ----------------------------------------------------------------------------- preprocessing


def test_stats_fitted_on_train_only(dm, raw):
    X, _ = raw
    Xl = X.loc[dm.patient_ids]
    train = Xl.iloc[dm.train_idx]
    np.testing.assert_allclose(dm.impute_mean_, train.mean().to_numpy(), rtol=1e-12)
    assert not np.allclose(dm.impute_mean_, Xl.mean().to_numpy(), rtol=1e-6)
    imputed = train.fillna(train.mean())
    np.testing.assert_allclose(dm.scale_mean_, imputed.mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(dm.scale_std_, imputed.std(ddof=0).to_numpy(), rtol=1e-10)
    assert not np.allclose(dm.scale_std_, Xl.fillna(Xl.mean()).std(ddof=0).to_numpy(), rtol=1e-6)
    xtr = dm.train_dataset.tensors[0].double()
    torch.testing.assert_close(xtr.mean(0), torch.zeros(18, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(xtr.std(0, unbiased=False), torch.ones(18, dtype=torch.float64), atol=1e-5, rtol=0)
    # the val split is transformed with the train statistics, not its own
    xva = dm.val_dataset.tensors[0].double()
    assert xva.mean(0).abs().max() > 1e-3
    # a missing value in any split becomes exactly the (standardized) train mean
    raw_x = dm.raw_features
    i, j = map(int, np.argwhere(np.isnan(raw_x[dm.test_idx]))[0])
    expected = (dm.impute_mean_[j] - dm.scale_mean_[j]) / dm.scale_std_[j]
    assert dm.test_dataset.tensors[0][i, j].item() == pytest.approx(expected, abs=1e-5)
    back = dm.inverse_transform(dm.train_dataset.tensors[0][:5].double()).numpy()
    ref = Xl.iloc[dm.train_idx[:5]].to_numpy()
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(back[ok], ref[ok], rtol=1e-5)


def test_values_finite_and_dtypes(dm, small):
    for module in (dm, small[0]):
        for d in (module.train_dataset, module.val_dataset, module.test_dataset):
            x, y = d.tensors
            assert x.dtype == torch.float32 and y.dtype == torch.float32
            assert x.shape == (len(y), 18) and y.ndim == 1
            assert torch.isfinite(x).all()
    assert dm.num_features == 18 and len(dm.feature_names) == 18
    assert dm.feature_names[0] == "Age" and dm.task == "binary" and dm.num_classes == 1
    assert dm.irrelevant_mask.dtype == torch.bool and not dm.irrelevant_mask.any()


def test_irrelevant_features(nhanes_dir, raw):
    dm = NHANESDataModule(data_dir=nhanes_dir, split="small_data", n_irrelevant=20, seed=0)
    assert dm.num_features == 38 and dm.train_dataset.tensors[0].shape == (100, 38)
    mask = dm.irrelevant_mask
    assert mask.dtype == torch.bool and mask.shape == (38,)
    assert not mask[:18].any() and mask[18:].all()
    names = dm.feature_names
    assert len(set(names)) == 38
    assert names[18] == "perm_Age_0" and names[35] == "perm_Pulse pressure_0" and names[36] == "perm_Age_1"
    raw_x = dm.raw_features
    for k in (0, 18):  # both are permutations of Age
        col = raw_x[:, 18 + k]
        np.testing.assert_array_equal(np.sort(col), np.sort(raw_x[:, 0]))
        assert abs(np.corrcoef(col, raw_x[:, 0])[0, 1]) < 0.05
    assert not np.array_equal(raw_x[:, 18], raw_x[:, 36])
    for split in (dm.train_dataset, dm.val_dataset, dm.test_dataset):
        assert torch.isfinite(split.tensors[0]).all()
    # the split does not depend on n_irrelevant; the permutation is seeded
    plain = NHANESDataModule(data_dir=nhanes_dir, split="small_data", seed=0)
    np.testing.assert_array_equal(dm.train_idx, plain.train_idx)
    torch.testing.assert_close(dm.train_dataset.tensors[0][:, :18], plain.train_dataset.tensors[0])
    again = NHANESDataModule(data_dir=nhanes_dir, split="small_data", n_irrelevant=20, seed=0)
    np.testing.assert_array_equal(again.raw_features, raw_x)


# ----------------------------------------------------------------------------- loaders


def test_dataloaders(dm, small):
    loader = small[0].train_dataloader()
    batches = list(loader)
    assert len(batches) == 1 and batches[0][0].shape == (100, 18)  # full batch
    assert len(list(small[0].test_dataloader())) == 1
    first = [b[1] for b in dm.train_dataloader()]
    assert sum(len(b) for b in first) == len(dm.train_dataset) and len(first[0]) == 256
    x0 = next(iter(dm.train_dataloader()))[0]
    assert torch.equal(x0, next(iter(dm.train_dataloader()))[0])  # seeded shuffle
    assert not torch.equal(x0, dm.train_dataset.tensors[0][:256])  # ...but shuffled
    xv = next(iter(dm.val_dataloader()))[0]
    assert torch.equal(xv, dm.val_dataset.tensors[0][:256])  # val not shuffled
    zero = NHANESDataModule(data_dir=dm.data_dir, split="small_data", batch_size=0)
    assert next(iter(zero.val_dataloader()))[0].shape[0] == 100


# ----------------------------------------------------------------------------- errors
# (packaged=False: these exercise the download path, which the packaged copy would bypass)


def test_offline_download_fails_fast_with_path_and_url(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(download_mod.urllib.request, "urlopen", offline)
    target = tmp_path / "empty" / "nhanes"
    dm = NHANESDataModule(data_dir=target, download=True, packaged=False)
    with pytest.raises(DownloadError) as info:
        dm.prepare_data()
    msg = str(info.value)
    assert str(target / "NHANESI_subset_X.csv") in msg
    assert NHANES_URL_BASE + "NHANESI_subset_X.csv" in msg
    assert "by hand" in msg and NHANES_FILES["NHANESI_subset_X.csv"] in msg
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, RuntimeError)
    assert not list(target.glob("*"))  # no partial files left behind


def test_real_network_failure_is_fast(tmp_path, monkeypatch):
    # a closed local port: exercises the real urllib path, fails whether or not CI is online
    monkeypatch.setattr(nhanes_mod, "NHANES_URL_BASE", "http://127.0.0.1:9/")
    dm = NHANESDataModule(data_dir=tmp_path, download=True, packaged=False)
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        dm.setup()  # setup downloads when files are missing
    assert time.monotonic() - start < 15
    assert "http://127.0.0.1:9/NHANESI_subset_X.csv" in str(info.value)
    assert str(tmp_path / "NHANESI_subset_X.csv") in str(info.value)


def test_missing_without_download_names_path(tmp_path):
    dm = NHANESDataModule(data_dir=tmp_path / "nowhere", download=False, packaged=False)
    with pytest.raises(DatasetNotFoundError) as info:
        dm.prepare_data()
    msg = str(info.value)
    assert str(tmp_path / "nowhere" / "NHANESI_subset_X.csv") in msg
    assert str(tmp_path / "nowhere" / "NHANESI_subset_y.csv") in msg
    assert "download=True" in msg
    with pytest.raises(FileNotFoundError):
        dm.setup()


def test_download_url_checksum(tmp_path):
    src = tmp_path / "src.csv"
    src.write_text("a,b\n1,2\n")
    digest = sha256sum(src)
    out = download_url(src.as_uri(), tmp_path / "out" / "f.csv", sha256=digest)
    assert out.read_text() == "a,b\n1,2\n"
    assert download_url("file:///does/not/exist", out, sha256=digest) == out  # already there
    with pytest.raises(DownloadError, match="Checksum mismatch"):
        download_url(src.as_uri(), tmp_path / "bad.csv", sha256="0" * 64)
    assert not (tmp_path / "bad.csv").exists() and not (tmp_path / "bad.csv.part").exists()
    with pytest.raises(DownloadError, match="exists but its sha256"):
        download_url(src.as_uri(), out, sha256="0" * 64)


def test_index_mismatch_raises(tmp_path, raw):
    X, y = raw
    X.iloc[:50].to_csv(tmp_path / "NHANESI_subset_X.csv")
    y.iloc[:50].iloc[::-1].to_frame("y").to_csv(tmp_path / "NHANESI_subset_y.csv")
    with pytest.raises(ValueError, match="row for row"):
        load_nhanes(tmp_path)
    y.iloc[:49].to_frame("y").to_csv(tmp_path / "NHANESI_subset_y.csv")
    with pytest.raises(ValueError, match="row counts differ"):
        NHANESDataModule(data_dir=tmp_path, download=False).setup()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"horizon_years": 0}, "horizon_years"),
        ({"horizon_years": -5}, "horizon_years"),
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must be < 1"),
        ({"split": "random"}, "split"),
        ({"n_train": 0}, "n_train"),
        ({"n_irrelevant": -1}, "n_irrelevant"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_arguments(kwargs, match, nhanes_dir):
    with pytest.raises(ValueError, match=match):
        NHANESDataModule(data_dir=nhanes_dir, **kwargs)


def test_small_data_too_large(nhanes_dir):
    dm = NHANESDataModule(data_dir=nhanes_dir, split="small_data", n_train=9000, n_val=535)
    with pytest.raises(ValueError, match="n_train \\+ n_val"):
        dm.setup()


# ----------------------------------------------------------------------------- data_dir


def test_resolve_relative_data_dir(tmp_path, monkeypatch):
    root, elsewhere = tmp_path / "repo", tmp_path / "hydra_out"
    (root / "data" / "nhanes").mkdir(parents=True)
    elsewhere.mkdir()
    for name in NHANES_FILES:
        (root / "data" / "nhanes" / name).write_text("")
    monkeypatch.chdir(elsewhere)
    req = tuple(NHANES_FILES)
    assert resolve_data_dir("data/nhanes", req, repo_root=root) == root / "data" / "nhanes"
    (elsewhere / "data" / "nhanes").mkdir(parents=True)  # empty folder in cwd: root still wins
    assert resolve_data_dir("data/nhanes", req, repo_root=root) == root / "data" / "nhanes"
    for name in NHANES_FILES:
        (elsewhere / "data" / "nhanes" / name).write_text("")
    assert resolve_data_dir("data/nhanes", req, repo_root=root) == elsewhere / "data" / "nhanes"
    assert resolve_data_dir("missing", req, repo_root=root) == elsewhere / "missing"
    assert resolve_data_dir(tmp_path / "abs", req, repo_root=root) == tmp_path / "abs"


def test_default_data_dir_from_other_cwd(tmp_path, monkeypatch, nhanes_dir):
    """The default relative data_dir works when Hydra moved the cwd (repo layout in CI)."""
    monkeypatch.chdir(tmp_path)
    expected = nhanes_mod.REPO_ROOT / "data" / "nhanes"
    dm = NHANESDataModule()
    if nhanes_dir == expected:
        assert dm.data_dir == expected
    else:  # data only in ../shared: nothing at the default location
        assert dm.data_dir in (expected, tmp_path / "data" / "nhanes")
