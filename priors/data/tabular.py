"""Base class of the tabular datamodules: splits, train-only preprocessing, datasets, loaders.

A subclass only loads and labels its table by implementing :meth:`TabularDataModule.load`;
this class then

* splits the labelled rows (``split="stratified"``: by label with ``val_fraction`` /
  ``test_fraction``; ``split="small_data"``: ``n_train`` random training rows, ``n_val``
  validation rows, all others test, the small-data protocol of Erion et al., Nature Machine
  Intelligence 3, 620-631, 2021),
* optionally appends ``n_irrelevant`` permuted copies of real features (``irrelevant_mask``),
* mean-imputes missing values and standardizes each feature with statistics fitted on the
  training split only (so no information leaks from validation or test rows),
* builds ``TensorDataset(x float32 (N, F), y)`` per split, ``y`` float32 0/1 for a binary task
  and int64 class indices otherwise (see :mod:`priors.data.contract`), and the loaders.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from priors.data.arguments import check_batch_size, check_fraction, check_int, check_seed
from priors.data.loaders import InMemoryLoaders

__all__ = ["SPLITS", "TabularDataModule", "TabularState"]

SPLITS = ("stratified", "small_data")
_IRRELEVANT_STREAM = 0x1BB  # separates the permutation RNG stream from the split RNG


@dataclass
class TabularState:
    """Everything :meth:`TabularDataModule.setup` computes (one object, built once)."""

    x_raw: np.ndarray  # (N, F) float64 with NaN, irrelevant columns appended
    x: np.ndarray  # (N, F) float32, imputed + standardized
    y: np.ndarray  # (N,) int64 class indices
    ids: pd.Index
    feature_names: list[str]
    irrelevant_mask: torch.Tensor
    n_label_classes: int
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    impute_mean: np.ndarray
    scale_mean: np.ndarray
    scale_std: np.ndarray
    train_dataset: TensorDataset
    val_dataset: TensorDataset
    test_dataset: TensorDataset


def _check_two_classes(y: np.ndarray, splits: dict) -> None:
    """A split of one class has no AUROC (torchmetrics returns 0.0, which read as a score)."""
    for name, idx in splits.items():
        classes = np.unique(y[idx])
        if len(idx) and len(classes) < 2:
            raise ValueError(f"the {name} split has {len(idx)} rows, all of class "
                             f"{classes[0]}: AUROC and the split's metrics are undefined; use "
                             "more rows (data.n_samples) or a stratified split")


def _check_no_inf(x_raw: np.ndarray, X: pd.DataFrame) -> None:
    """NaN is a missing value (imputed); +-inf is no value at all: refused before training,
    naming the cell, instead of a NaN loss (or an "inf" test-time error) after it."""
    rows, cols = np.nonzero(np.isinf(x_raw))
    if len(rows):
        raise ValueError(f"{len(rows)} infinite value(s) in the table, first in column "
                         f"{X.columns[cols[0]]!r}, row {X.index[rows[0]]!r}; replace them by "
                         "a number or leave the cell empty (missing values are imputed)")


class TabularDataModule(InMemoryLoaders, pl.LightningDataModule):
    """Splitting, train-only imputation/standardization and loaders for a table.

    Subclasses implement :meth:`load`; see the module docstring for what happens next.

    Args:
        split: ``"stratified"`` or ``"small_data"``.
        val_fraction, test_fraction: fractions in (0, 1) for ``split="stratified"``.
        n_train, n_val: split sizes for ``split="small_data"``.
        n_irrelevant: number of appended irrelevant features, each a copy of a real feature
            (cycling through them) permuted across rows, named ``perm_<feature>_<k>`` with
            ``k`` the cycle number.
        standardize: impute and standardize (``False``: use the loaded values as they are).
        batch_size: batch size; ``None`` or ``<= 0`` gives one full batch per split.
        num_workers: DataLoader workers.
        seed: seeds the split, the permutation of irrelevant features and the shuffling.
        task: ``"binary"`` / ``"multiclass"`` when the subclass knows it; ``None``: binary for
            two label classes, else multiclass.
        num_classes: number of classes of a multiclass task when known (labels may miss
            some); ``None``: the number of label classes.
    """

    def __init__(
        self,
        split: str = "stratified",
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        n_train: int = 100,
        n_val: int = 100,
        n_irrelevant: int = 0,
        standardize: bool = True,
        batch_size: int | None = 256,
        num_workers: int = 0,
        seed: int = 0,
        task: str | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if task not in (None, "binary", "multiclass"):
            raise ValueError(f"task must be 'binary', 'multiclass' or None, got {task!r}")
        self._fixed_task = task
        self._fixed_num_classes = num_classes
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.split = split
        self.val_fraction = check_fraction("val_fraction", val_fraction)
        self.test_fraction = check_fraction("test_fraction", test_fraction)
        if split == "stratified" and self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1 (no training data left), got "
                f"{self.val_fraction} + {self.test_fraction}"
            )
        self.n_train = check_int("n_train", n_train, 1)
        self.n_val = check_int("n_val", n_val, 1)
        self.n_irrelevant = check_int("n_irrelevant", n_irrelevant, 0)
        self.standardize = bool(standardize)
        self.batch_size = check_batch_size(batch_size)
        self.num_workers = check_int("num_workers", num_workers, 0)
        self.seed = check_seed(seed)
        self._state: TabularState | None = None

    # -------------------------------------------------------------- to implement

    def load(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The labelled table: features (float64, NaN = missing, index = row ids, columns =
        feature names) and int64 class indices ``0..K-1`` of the same length."""
        raise NotImplementedError(f"{type(self).__name__} must implement load()")

    # -------------------------------------------------------------- task

    def _task_for(self, n_label_classes: int) -> str:
        if self._fixed_task is not None:
            return self._fixed_task
        return "binary" if n_label_classes <= 2 else "multiclass"

    @property
    def task(self) -> str:
        """``"binary"`` or ``"multiclass"`` (fixed by the subclass, else from the labels)."""
        return self._task_for(self.state.n_label_classes)

    @property
    def num_classes(self) -> int:
        """1 for a binary task (one logit), else the number of classes."""
        if self.task == "binary":
            return 1
        return self._fixed_num_classes or self.state.n_label_classes

    # -------------------------------------------------------------- setup

    def setup(self, stage: str | None = None) -> None:
        """Load, split and preprocess. Idempotent: later calls return immediately."""
        if self._state is not None:
            return
        X, y = self.load()
        y = np.asarray(y, dtype=np.int64)
        n = len(y)
        if n == 0:
            raise ValueError(f"{type(self).__name__}: no labelled rows to train on.")
        x_raw = X.to_numpy(dtype=np.float64)
        _check_no_inf(x_raw, X)
        names = [str(c) for c in X.columns]
        x_raw, names, irrelevant_mask = self._add_irrelevant(x_raw, names)
        train_idx, val_idx, test_idx = self.split_indices(y)
        _check_two_classes(y, {"train": train_idx, "val": val_idx, "test": test_idx})
        impute_mean, scale_mean, scale_std = self._fit_preprocessing(x_raw[train_idx], names)
        x_imp = np.where(np.isnan(x_raw), impute_mean, x_raw)
        x = ((x_imp - scale_mean) / scale_std).astype(np.float32)

        x_t = torch.from_numpy(x)
        n_label_classes = int(y.max()) + 1
        binary = self._task_for(n_label_classes) == "binary"
        y_t = torch.from_numpy(y.astype(np.float32) if binary else y)

        def subset(idx: np.ndarray) -> TensorDataset:
            idx_t = torch.from_numpy(idx)
            return TensorDataset(x_t[idx_t], y_t[idx_t])

        self._state = TabularState(
            x_raw=x_raw, x=x, y=y, ids=X.index, feature_names=names,
            irrelevant_mask=irrelevant_mask, n_label_classes=n_label_classes,
            train_idx=train_idx, val_idx=val_idx, test_idx=test_idx,
            impute_mean=impute_mean, scale_mean=scale_mean, scale_std=scale_std,
            train_dataset=subset(train_idx), val_dataset=subset(val_idx),
            test_dataset=subset(test_idx),
        )

    def _add_irrelevant(self, x_raw: np.ndarray, names: list[str]):
        n, n_real = x_raw.shape
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
        return x_raw, names, irrelevant_mask

    def _fit_preprocessing(self, x_train: np.ndarray, names: list[str]):
        """``(impute_mean, scale_mean, scale_std)`` from the training rows only."""
        n_features = x_train.shape[1]
        if not self.standardize:
            zeros = np.zeros(n_features)
            return zeros, zeros, np.ones(n_features)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> handled below
            impute_mean = np.nanmean(x_train, axis=0)
        empty = ~np.isfinite(impute_mean)
        if empty.any():
            warnings.warn(
                "Features with no observed training value are imputed with 0: "
                + ", ".join(np.asarray(names)[empty]),
                stacklevel=3,
            )
            impute_mean = np.where(empty, 0.0, impute_mean)
        x_imp = np.where(np.isnan(x_train), impute_mean, x_train)
        scale_mean = x_imp.mean(axis=0)
        scale_std = x_imp.std(axis=0)
        scale_std = np.where(np.isfinite(scale_std) & (scale_std > 0), scale_std, 1.0)
        return impute_mean, scale_mean, scale_std

    def split_indices(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted row positions ``(train, val, test)`` for labels ``y``."""
        n = len(y)
        if self.split == "small_data":
            if self.n_train + self.n_val >= n:
                raise ValueError(
                    f"n_train + n_val must be < the number of labelled rows ({n}) so that a "
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
        counts = np.bincount(y)
        counts = counts[counts > 0]
        smallest = int(np.floor(min(self.val_fraction, self.test_fraction) * n))
        if counts.min() < 3 or smallest < len(counts):
            raise ValueError(
                f"Too few rows for split='stratified' with val_fraction={self.val_fraction}, "
                f"test_fraction={self.test_fraction}: {n} labelled rows, class counts "
                f"{counts.tolist()}. Every class needs >= 3 rows and the smallest split >= one "
                f"row per class ({len(counts)}); add rows or raise the fractions."
            )
        try:
            train_val, test = train_test_split(
                np.arange(n), test_size=self.test_fraction, stratify=y, random_state=self.seed
            )
            train, val = train_test_split(
                train_val,
                test_size=self.val_fraction / (1.0 - self.test_fraction),
                stratify=y[train_val],
                random_state=self.seed,
            )
        except ValueError as err:
            raise ValueError(
                f"Stratified split failed for {n} rows with val_fraction={self.val_fraction}, "
                f"test_fraction={self.test_fraction}: {err}"
            ) from err
        return np.sort(train), np.sort(val), np.sort(test)

    # -------------------------------------------------------------- accessors

    @property
    def state(self) -> TabularState:
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
    def labels(self) -> np.ndarray:
        """Class indices (int64) of all labelled rows; ``train_idx`` etc. index them."""
        return self.state.y

    @property
    def raw_features(self) -> np.ndarray:
        """Unprocessed features (float64, NaN = missing) of all labelled rows."""
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

