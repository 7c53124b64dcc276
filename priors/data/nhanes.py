"""NHANES I 10-year (or ``horizon_years``) mortality prediction as a LightningDataModule.

Data source
-----------
The First National Health and Nutrition Examination Survey (NHANES I, 1971-1974) with
mortality follow-up from the NHANES I Epidemiologic Follow-up Study, run by the U.S. Centers
for Disease Control and Prevention / National Center for Health Statistics (CDC / NCHS);
public-domain U.S. government data. We use the 18-feature subset packaged by the ``shap``
project (https://github.com/shap/shap, ``data/NHANESI_subset_X.csv`` and
``data/NHANESI_subset_y.csv``; 9932 patients).

``y`` encodes survival: ``y > 0`` means death observed ``y`` years after the exam, ``y < 0``
means the patient was last seen alive ``|y|`` years after the exam (right-censored). A
binary label for mortality within ``horizon_years`` is 1 if ``0 < y <= horizon``, 0 if
``|y| > horizon`` (the patient was known to be alive at the horizon), and undefined for
patients censored before the horizon (``-horizon <= y < 0``), who are dropped. ``y == 0``
carries no follow-up at all and is dropped too. Note that the shap CSV stores 382 patients
as ``-0.0`` (censored at time zero): ``-0.0 < 0`` is False in IEEE arithmetic, so a naive
``y < 0`` test would keep them as negatives; here they are dropped. At a 10-year horizon this
leaves 9535 labelled patients, 1503 of them positive.

Protocol
--------
The small-data protocol (``split="small_data"``) follows the NHANES experiments of Erion,
Janizek, Sturmfels, Lundberg and Lee, "Improving performance of deep learning models with
axiomatic attribution priors and expected gradients", Nature Machine Intelligence 3, 620-631
(2021): a handful of randomly drawn training patients (100 by default), the same number of
validation patients, and every remaining patient as test set; each repetition uses a new
seed. Missing values are mean-imputed and features standardized with statistics fitted on
the training split only. Their experiments use the full NHANES I matrix (about 13k patients,
over 100 features after one-hot encoding); this module uses the 18-feature subset.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, Dataset, TensorDataset

from priors.data.download import (
    DatasetNotFoundError,
    DownloadError,
    download_url,
    manual_download_hint,
    sha256sum,
)

__all__ = [
    "NHANES_FILES",
    "NHANES_URL_BASE",
    "NHANESDataModule",
    "load_nhanes",
    "mortality_labels",
    "resolve_data_dir",
]

#: Repository root of a source checkout (``<root>/priors/data/nhanes.py``).
REPO_ROOT = Path(__file__).resolve().parents[2]

NHANES_URL_BASE = "https://github.com/shap/shap/raw/master/data/"
NHANES_X_FILE = "NHANESI_subset_X.csv"
NHANES_Y_FILE = "NHANESI_subset_y.csv"
#: file name -> sha256 of the upstream file.
NHANES_FILES = {
    NHANES_X_FILE: "cef5336deb83640da63adb3a36ddd436da49f685480c87a37c8b2959602bcb99",
    NHANES_Y_FILE: "a26b0d295c0bbad0aa8034be8598274e35bd43c98e5a25cfcb407453cae4d7aa",
}

SPLITS = ("stratified", "small_data")
_IRRELEVANT_STREAM = 0x1BB  # separates the permutation RNG stream from the split RNG


def nhanes_url(filename: str) -> str:
    return NHANES_URL_BASE + filename


# ----------------------------------------------------------------------------- loading


def resolve_data_dir(
    data_dir: str | os.PathLike,
    required: Sequence[str] = (),
    repo_root: str | os.PathLike | None = None,
) -> Path:
    """Absolute folder for ``data_dir``.

    An absolute ``data_dir`` is returned as is. A relative one is tried against the current
    working directory and then against the repository root (``Path(priors.__file__)
    .parents[1]``), because Hydra may change the working directory to its output folder. The
    first candidate holding all ``required`` files wins, else the first existing folder,
    else the cwd-relative path (where a download would go and what error messages name).
    """
    path = Path(data_dir).expanduser()
    if path.is_absolute():
        return path
    root = Path(repo_root) if repo_root is not None else REPO_ROOT
    candidates = [Path.cwd() / path, root / path]
    for cand in candidates:
        if cand.is_dir() and all((cand / name).is_file() for name in required):
            return cand
    for cand in candidates:
        if cand.is_dir():
            return cand
    return candidates[0]


def load_nhanes(data_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.Series]:
    """Read the two NHANES CSVs from ``data_dir``; return ``(X, y)`` indexed by patient id.

    Raises:
        DatasetNotFoundError: a file is missing.
        ValueError: the files are malformed or their index columns do not match row for row.
    """
    data_dir = Path(data_dir)
    x_path, y_path = data_dir / NHANES_X_FILE, data_dir / NHANES_Y_FILE
    for p in (x_path, y_path):
        if not p.is_file():
            raise DatasetNotFoundError(
                f"NHANES file not found: {p}. "
                + manual_download_hint(nhanes_url(p.name), p, NHANES_FILES[p.name])
            )
    X = pd.read_csv(x_path, index_col=0)
    y_frame = pd.read_csv(y_path, index_col=0)
    if "y" in y_frame.columns:
        y = y_frame["y"]
    elif y_frame.shape[1] == 1:
        y = y_frame.iloc[:, 0]
    else:
        raise ValueError(
            f"{y_path}: expected an index column and a 'y' column, got {list(y_frame.columns)}"
        )

    if len(X) != len(y):
        raise ValueError(
            f"NHANES row counts differ: {x_path} has {len(X)} rows, {y_path} has {len(y)}."
        )
    if not X.index.equals(y.index):
        pos = int(np.flatnonzero(np.asarray(X.index) != np.asarray(y.index))[0])
        raise ValueError(
            f"NHANES index columns do not match row for row: row {pos} has patient id "
            f"{X.index[pos]!r} in {x_path} but {y.index[pos]!r} in {y_path}."
        )
    if not X.index.is_unique:
        dup = X.index[X.index.duplicated()][0]
        raise ValueError(f"{x_path}: duplicated patient id {dup!r} in the index column.")
    try:
        X = X.astype(np.float64)
        y = y.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"NHANES files in {data_dir} contain non-numeric values: {err}") from err
    return X, y


def mortality_labels(
    y: np.ndarray | pd.Series, horizon_years: float, keep_zero_followup: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Binary mortality-within-horizon labels from signed survival times.

    Returns ``(keep, label)``: ``keep`` is a bool mask of patients with a defined label
    (died within the horizon, or known alive at the horizon); ``label`` (int64, same length)
    is 1 for ``0 < y <= horizon`` and 0 otherwise. Patients censored before the horizon
    (``-horizon <= y < 0``), ``y == 0`` (including ``-0.0``) and NaN are not kept.

    ``keep_zero_followup=True`` instead counts the 382 rows stored as ``y = -0.0`` (censored at
    time 0, i.e. no follow-up) as survivors (label 0); that reproduces the 9917-row count quoted
    in the data README, which subtracted only the 15 rows censored in (0, 10) years.
    """
    y = np.asarray(y, dtype=np.float64)
    positive = (y > 0) & (y <= horizon_years)
    negative = np.abs(y) > horizon_years  # alive at the horizon (NaN compares False)
    if keep_zero_followup:
        negative = negative | (y == 0)
    return positive | negative, positive.astype(np.int64)


# ----------------------------------------------------------------------------- helpers


def _full_or(batch_size: int | None, n: int) -> int:
    if batch_size is None or batch_size <= 0:
        return max(n, 1)
    return int(batch_size)


def make_dataloader(
    dataset: Dataset,
    batch_size: int | None,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
) -> DataLoader:
    """DataLoader with full-batch support (``batch_size`` None or <= 0) and seeded shuffling."""
    generator = torch.Generator().manual_seed(int(seed)) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=_full_or(batch_size, len(dataset)),
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_fraction(name: str, value) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


@dataclass
class _State:
    x_raw: np.ndarray  # (N, F) float64 with NaN, irrelevant columns appended
    x: np.ndarray  # (N, F) float32, imputed + standardized
    y: np.ndarray  # (N,) int64 0/1
    patient_ids: pd.Index
    feature_names: list[str]
    irrelevant_mask: torch.Tensor
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    impute_mean: np.ndarray
    scale_mean: np.ndarray
    scale_std: np.ndarray
    train_dataset: TensorDataset
    val_dataset: TensorDataset
    test_dataset: TensorDataset


# ----------------------------------------------------------------------------- datamodule


class NHANESDataModule(pl.LightningDataModule):
    """NHANES I mortality within ``horizon_years`` (binary), 18 clinical features.

    See the module docstring for the data source, labelling and the small-data protocol of
    Erion et al. (Nature Machine Intelligence, 2021).

    Args:
        data_dir: folder holding ``NHANESI_subset_X.csv`` and ``NHANESI_subset_y.csv``. A
            relative path is resolved against the current working directory and, if the files
            are not there, against the repository root (Hydra may have changed the cwd to its
            output folder); see :func:`resolve_data_dir`.
        horizon_years: prediction horizon (> 0).
        split: ``"stratified"``: train/val/test split stratified by label with
            ``val_fraction`` / ``test_fraction`` of the labelled patients.
            ``"small_data"``: ``n_train`` random training patients, ``n_val`` validation
            patients and all remaining patients as test set.
        val_fraction, test_fraction: fractions in (0, 1) for ``split="stratified"``.
        n_train, n_val: split sizes for ``split="small_data"``.
        n_irrelevant: number of appended irrelevant features, each a copy of a real feature
            (cycling through the 18) permuted across patients, named ``perm_<feature>_<k>``
            with ``k`` the cycle number. ``irrelevant_mask`` marks them.
        batch_size: batch size; ``None`` or ``<= 0`` gives one full batch per split.
        num_workers: DataLoader workers.
        seed: seeds the split (the repetition index in the small-data protocol), the
            permutation of irrelevant features and the training-loader shuffling.
        download: in :meth:`prepare_data`, download missing files from the shap repository
            (sha256-verified). Offline failures raise :class:`DownloadError`.
        keep_zero_followup: the subset stores 382 patients as ``y = -0.0`` (censored at time
            0: no follow-up). By the label rule they have no label and are dropped (9535
            labelled rows at 10 years, 1503 positive). ``True`` counts them as survivors
            instead (9917 rows, the count quoted in the data README), which adds label noise.

    After :meth:`setup` (called lazily by the attributes below) the module exposes
    ``train_dataset`` / ``val_dataset`` / ``test_dataset`` (``TensorDataset`` of float32
    ``x (N, F)`` and float32 0/1 ``y (N,)``), ``num_features``, ``feature_names``,
    ``irrelevant_mask``, ``train_idx`` / ``val_idx`` / ``test_idx`` (positions into the
    labelled patients, see ``patient_ids``), and the preprocessing statistics fitted on the
    training split: ``impute_mean_``, ``scale_mean_``, ``scale_std_`` (float64 numpy arrays).
    """

    task = "binary"
    num_classes = 1

    def __init__(
        self,
        data_dir: str | os.PathLike = "data/nhanes",
        horizon_years: float = 10.0,
        split: str = "stratified",
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        n_train: int = 100,
        n_val: int = 100,
        n_irrelevant: int = 0,
        batch_size: int | None = 256,
        num_workers: int = 0,
        seed: int = 0,
        download: bool = True,
        keep_zero_followup: bool = False,
    ) -> None:
        super().__init__()
        horizon_years = float(horizon_years)
        if not (math.isfinite(horizon_years) and horizon_years > 0):
            raise ValueError(f"horizon_years must be a finite number > 0, got {horizon_years}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        val_fraction = _check_fraction("val_fraction", val_fraction)
        test_fraction = _check_fraction("test_fraction", test_fraction)
        if split == "stratified" and val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1 (no training data left), got "
                f"{val_fraction} + {test_fraction}"
            )
        n_train = _check_int("n_train", n_train, 1)
        n_val = _check_int("n_val", n_val, 1)
        n_irrelevant = _check_int("n_irrelevant", n_irrelevant, 0)
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
        ):
            raise TypeError(f"batch_size must be an integer or None, got {batch_size!r}")
        num_workers = _check_int("num_workers", num_workers, 0)
        seed = _check_int("seed", seed, 0)
        if seed >= 2**32:
            raise ValueError(f"seed must be < 2**32, got {seed}")

        self.save_hyperparameters()
        self.data_dir = resolve_data_dir(data_dir, required=tuple(NHANES_FILES))
        self.horizon_years = horizon_years
        self.keep_zero_followup = bool(keep_zero_followup)
        self.split = split
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.n_train = n_train
        self.n_val = n_val
        self.n_irrelevant = n_irrelevant
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.download = bool(download)
        self._state: _State | None = None

    # -------------------------------------------------------------- files

    def _missing_files(self) -> list[str]:
        return [name for name in NHANES_FILES if not (self.data_dir / name).is_file()]

    def prepare_data(self) -> None:
        """Download missing files if ``download=True``; otherwise raise a clear error."""
        missing = self._missing_files()
        if not missing:
            for name, digest in NHANES_FILES.items():
                if sha256sum(self.data_dir / name) != digest:
                    warnings.warn(
                        f"{self.data_dir / name} does not have the expected sha256 {digest}; "
                        "it differs from the upstream shap file.",
                        stacklevel=2,
                    )
            return
        if not self.download:
            paths = ", ".join(str(self.data_dir / name) for name in missing)
            hints = " ".join(
                manual_download_hint(nhanes_url(name), self.data_dir / name, NHANES_FILES[name])
                for name in missing
            )
            raise DatasetNotFoundError(
                f"NHANES data not found: missing {paths}. Pass download=True to fetch it from "
                f"{NHANES_URL_BASE}, or place the files there (see data/README.md). {hints}"
            )
        for name in missing:
            try:
                download_url(nhanes_url(name), self.data_dir / name, sha256=NHANES_FILES[name])
            except DownloadError as err:
                raise DownloadError(
                    f"NHANES data not found in {self.data_dir} and the download failed "
                    f"(see data/README.md). {err}"
                ) from err

    # -------------------------------------------------------------- setup

    def setup(self, stage: str | None = None) -> None:
        """Load, label, split and preprocess. Idempotent: later calls return immediately."""
        if self._state is not None:
            return
        if self._missing_files():
            self.prepare_data()  # downloads or raises a clear error
        X, y_years = load_nhanes(self.data_dir)
        keep, labels = mortality_labels(
            y_years.to_numpy(), self.horizon_years, self.keep_zero_followup
        )
        X = X.loc[keep]
        y = labels[keep]
        n = len(y)
        if n == 0:
            raise ValueError(f"No labelled patients at horizon_years={self.horizon_years}.")

        x_raw = X.to_numpy(dtype=np.float64)
        names = [str(c) for c in X.columns]
        n_real = len(names)
        if self.n_irrelevant:
            rng = np.random.default_rng([_IRRELEVANT_STREAM, self.seed])
            extra = np.empty((n, self.n_irrelevant), dtype=np.float64)
            for k in range(self.n_irrelevant):
                src = k % n_real
                extra[:, k] = x_raw[rng.permutation(n), src]
                names.append(f"perm_{names[src]}_{k // n_real}")
            x_raw = np.concatenate([x_raw, extra], axis=1)
        irrelevant_mask = torch.zeros(x_raw.shape[1], dtype=torch.bool)
        irrelevant_mask[n_real:] = True

        train_idx, val_idx, test_idx = self._split(y)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> handled below
            impute_mean = np.nanmean(x_raw[train_idx], axis=0)
        empty = ~np.isfinite(impute_mean)
        if empty.any():
            warnings.warn(
                "Features with no observed training value are imputed with 0: "
                + ", ".join(np.asarray(names)[empty]),
                stacklevel=2,
            )
            impute_mean = np.where(empty, 0.0, impute_mean)
        x_imp = np.where(np.isnan(x_raw), impute_mean, x_raw)
        scale_mean = x_imp[train_idx].mean(axis=0)
        scale_std = x_imp[train_idx].std(axis=0)
        scale_std = np.where(np.isfinite(scale_std) & (scale_std > 0), scale_std, 1.0)
        x = ((x_imp - scale_mean) / scale_std).astype(np.float32)

        x_t = torch.from_numpy(x)
        y_t = torch.from_numpy(y.astype(np.float32))

        def subset(idx: np.ndarray) -> TensorDataset:
            idx_t = torch.from_numpy(idx)
            return TensorDataset(x_t[idx_t], y_t[idx_t])

        self._state = _State(
            x_raw=x_raw,
            x=x,
            y=y,
            patient_ids=X.index,
            feature_names=names,
            irrelevant_mask=irrelevant_mask,
            train_idx=train_idx,
            val_idx=val_idx,
            test_idx=test_idx,
            impute_mean=impute_mean,
            scale_mean=scale_mean,
            scale_std=scale_std,
            train_dataset=subset(train_idx),
            val_dataset=subset(val_idx),
            test_dataset=subset(test_idx),
        )

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(y)
        idx = np.arange(n)
        if self.split == "small_data":
            if self.n_train + self.n_val >= n:
                raise ValueError(
                    f"n_train + n_val must be < the number of labelled patients ({n}) so that a "
                    f"test set remains, got {self.n_train} + {self.n_val}"
                )
            perm = np.random.default_rng(self.seed).permutation(n)
            train = np.sort(perm[: self.n_train])
            val = np.sort(perm[self.n_train : self.n_train + self.n_val])
            test = np.sort(perm[self.n_train + self.n_val :])
            if len(np.unique(y[train])) < 2:
                warnings.warn(
                    f"small_data training split (seed={self.seed}) contains a single class.",
                    stacklevel=3,
                )
            return train, val, test
        try:
            train_val, test = train_test_split(
                idx, test_size=self.test_fraction, stratify=y, random_state=self.seed
            )
            train, val = train_test_split(
                train_val,
                test_size=self.val_fraction / (1.0 - self.test_fraction),
                stratify=y[train_val],
                random_state=self.seed,
            )
        except ValueError as err:
            raise ValueError(
                f"Stratified split failed for {n} patients with val_fraction={self.val_fraction}, "
                f"test_fraction={self.test_fraction}: {err}"
            ) from err
        return np.sort(train), np.sort(val), np.sort(test)

    # -------------------------------------------------------------- accessors

    @property
    def state(self) -> _State:
        if self._state is None:
            self.setup()
        assert self._state is not None
        return self._state

    @property
    def train_dataset(self) -> TensorDataset:
        return self.state.train_dataset

    @property
    def val_dataset(self) -> TensorDataset:
        return self.state.val_dataset

    @property
    def test_dataset(self) -> TensorDataset:
        return self.state.test_dataset

    @property
    def num_features(self) -> int:
        return len(self.state.feature_names)

    @property
    def feature_names(self) -> list[str]:
        return list(self.state.feature_names)

    @property
    def irrelevant_mask(self) -> torch.Tensor:
        return self.state.irrelevant_mask.clone()

    @property
    def train_idx(self) -> np.ndarray:
        return self.state.train_idx

    @property
    def val_idx(self) -> np.ndarray:
        return self.state.val_idx

    @property
    def test_idx(self) -> np.ndarray:
        return self.state.test_idx

    @property
    def patient_ids(self) -> pd.Index:
        """Patient ids (index of the CSVs) of the labelled rows; ``train_idx`` etc. index it."""
        return self.state.patient_ids

    @property
    def labels(self) -> np.ndarray:
        """0/1 labels (int64) of all labelled patients."""
        return self.state.y

    @property
    def raw_features(self) -> np.ndarray:
        """Unprocessed features (float64, NaN = missing) of all labelled patients."""
        return self.state.x_raw

    @property
    def impute_mean_(self) -> np.ndarray:
        return self.state.impute_mean

    @property
    def scale_mean_(self) -> np.ndarray:
        return self.state.scale_mean

    @property
    def scale_std_(self) -> np.ndarray:
        return self.state.scale_std

    def inverse_transform(self, x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Map standardized features back to original units (imputed values stay imputed)."""
        mean, std = self.scale_mean_, self.scale_std_
        if isinstance(x, torch.Tensor):
            return x * torch.as_tensor(std, dtype=x.dtype, device=x.device) + torch.as_tensor(
                mean, dtype=x.dtype, device=x.device
            )
        return np.asarray(x) * std + mean

    # -------------------------------------------------------------- loaders

    def train_dataloader(self) -> DataLoader:
        return make_dataloader(
            self.train_dataset, self.batch_size, True, self.seed, self.num_workers
        )

    def val_dataloader(self) -> DataLoader:
        return make_dataloader(
            self.val_dataset, self.batch_size, False, self.seed, self.num_workers
        )

    def test_dataloader(self) -> DataLoader:
        return make_dataloader(
            self.test_dataset, self.batch_size, False, self.seed, self.num_workers
        )
