"""Your own tabular data: a CSV file as a LightningDataModule (``data=csv``).

``python train.py data=csv data.path=my.csv data.label=died`` trains on ``my.csv`` with the
label column ``died``; every other column is a feature unless ``data.features=[...]`` lists
them. Columns in ``data.categorical=[...]`` are one-hot encoded (one 0/1 feature
``column=value`` per value seen in the file; a missing value is all zeros). Every other feature
must be numeric (booleans count as 0/1); missing values are allowed and are mean-imputed.

Labels (``label_rule="class"``): two distinct values make a binary task (the second in sorted
order is the positive class, or ``positive_label``), more make a multi-class task (class
indices in sorted order of the values, see ``classes``). Rows with a missing label are dropped.

Survival times (``label_rule="survival"``): the label column holds signed follow-up times in
years (shap's NHANES layout, see :mod:`priors.data.survival`) and becomes mortality within
``horizon_years``. ``label_path`` reads the labels from a second CSV that shares the first
column (the row id) with ``path``, as in the full NHANES I matrix of the attribution-prior
papers::

    python train.py data=csv data.path=data/nhanes/NHANESI_X.csv \\
        data.label_path=data/nhanes/NHANESI_y.csv data.label=y data.label_rule=survival

The shap NHANES files are found in ``data_dir``, else packaged (the subset), else downloaded
with their sha256 (the full matrix, ``download=True``). Splits, train-only imputation and
standardization and the loaders are those of :class:`~priors.data.tabular.TabularDataModule`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from priors.data.csv_checks import check_label_values, read_csv_checked
from priors.data.download import DatasetNotFoundError
from priors.data.files import resolve_data_dir
from priors.data.nhanes import nhanes_source
from priors.data.survival import LABEL_RULES, check_horizon, mortality_labels, read_xy_pair
from priors.data.tabular import TabularDataModule

__all__ = ["CSVDataModule"]


def _as_list(value, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        return [str(v) for v in value]
    except TypeError:
        raise TypeError(f"{name} must be a list of column names, got {value!r}") from None


class CSVDataModule(TabularDataModule):
    """A CSV table with a label column (see the module docstring).

    Args:
        path: the CSV file (relative paths: against the working directory, then the
            repository root).
        label: name of the label column (in ``label_path`` when given).
        features: feature columns (default: every column but the label and the index).
        categorical: columns to one-hot encode.
        label_path: a second CSV holding the label column; both files' first column is the
            row id and must match row for row.
        index_col: a column of ``path`` that is a row id, not a feature (``label_path``
            implies the first column).
        label_rule: ``"class"`` or ``"survival"``.
        horizon_years, keep_zero_followup: the survival rule (see
            :func:`~priors.data.survival.mortality_labels`).
        positive_label: the positive class of a binary ``"class"`` label (default: the
            second value in sorted order, e.g. 1 of {0, 1}, ``"yes"`` of {"no", "yes"}).
        download: fetch a missing shap NHANES file (sha256-verified).
        split, val_fraction, test_fraction, n_train, n_val, n_irrelevant, batch_size,
            num_workers, seed: see :class:`~priors.data.tabular.TabularDataModule`.

    After setup: ``classes`` (label values in class-index order), ``feature_names``, ``task``,
    ``num_classes`` and everything :class:`~priors.data.tabular.TabularDataModule` offers.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        label: str,
        features: Sequence[str] | None = None,
        categorical: Sequence[str] = (),
        label_path: str | os.PathLike | None = None,
        index_col: str | int | None = None,
        label_rule: str = "class",
        horizon_years: float = 10.0,
        keep_zero_followup: bool = False,
        positive_label=None,
        download: bool = True,
        split: str = "stratified",
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        n_train: int = 100,
        n_val: int = 100,
        n_irrelevant: int = 0,
        batch_size: int | None = 256,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        if label_rule not in LABEL_RULES:
            raise ValueError(f"label_rule must be one of {LABEL_RULES}, got {label_rule!r}")
        horizon_years = check_horizon(horizon_years)
        super().__init__(
            split=split, val_fraction=val_fraction, test_fraction=test_fraction,
            n_train=n_train, n_val=n_val, n_irrelevant=n_irrelevant, batch_size=batch_size,
            num_workers=num_workers, seed=seed,
            task="binary" if label_rule == "survival" else None,
        )
        self.save_hyperparameters()
        self.path = self._resolve(path)
        self.label_path = self._resolve(label_path) if label_path is not None else None
        self.label = str(label)
        self.features = _as_list(features, "features") or None
        self.categorical = _as_list(categorical, "categorical")
        self.index_col = index_col
        self.label_rule = label_rule
        self.horizon_years = horizon_years
        self.keep_zero_followup = bool(keep_zero_followup)
        self.positive_label = positive_label
        self.download = bool(download)
        self._classes: list = []

    @staticmethod
    def _resolve(path: str | os.PathLike) -> Path:
        path = Path(path).expanduser()
        return resolve_data_dir(path.parent, required=(path.name,)) / path.name

    def _source(self, path: Path):
        source = nhanes_source(path, download=self.download)  # known shap files only
        if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
            raise DatasetNotFoundError(f"CSV file not found: {path} (data.path / data.label_path)")
        return source

    def prepare_data(self) -> None:
        """Fail early, naming the file, when a CSV is missing (downloads known shap files)."""
        for path in filter(None, (self.path, self.label_path)):
            self._source(path)

    # -------------------------------------------------------------- reading

    def _read(self) -> tuple[pd.DataFrame, pd.Series]:
        name = self.path.name
        if self.label_path is not None:
            frame, y = read_xy_pair(self._source(self.path), self._source(self.label_path),
                                    label=self.label, numeric=False, strict=True)
        else:
            frame = read_csv_checked(self._source(self.path), name, self.index_col)
            if self.label not in frame.columns:
                raise ValueError(
                    f"label column {self.label!r} not in {name}; its columns are "
                    f"{list(frame.columns)} (set data.label=<column>)"
                )
            y = frame.pop(self.label)
        if self.features is not None:
            missing = [c for c in self.features if c not in frame.columns]
            if missing:
                raise ValueError(f"features {missing} are not columns of {name}; its columns "
                                 f"are {list(frame.columns)}")
            frame = frame[self.features]
        unknown = [c for c in self.categorical if c not in frame.columns]
        if unknown:
            raise ValueError(f"categorical columns {unknown} are not features of {name} "
                             f"(features: {list(frame.columns)})")
        return frame, y

    def _encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        for column in frame.columns:
            if column in self.categorical:
                continue
            values = frame[column]
            if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
                bad = values[pd.to_numeric(values, errors="coerce").isna() & values.notna()]
                example = f" (value {bad.iloc[0]!r} in row {bad.index[0]!r})" if len(bad) else ""
                raise ValueError(
                    f"feature column {column!r} of {self.path.name} is not numeric{example}; "
                    f"declare it categorical "
                    f"(data.categorical=[{column}]) or remove it from data.features"
                )
        if self.categorical:
            frame = pd.get_dummies(frame, columns=self.categorical, prefix_sep="=",
                                   dtype=np.float64)
        return frame.astype(np.float64)

    def _labels(self, y: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """``(keep, class index)`` per row; sets the label values of the class indices."""
        if self.label_rule == "survival":
            times = pd.to_numeric(y, errors="coerce")
            if times.isna().all():
                raise ValueError(f"label_rule=survival needs numeric survival times in "
                                 f"{self.label!r}, got values like {y.iloc[0]!r}")
            keep, labels = mortality_labels(times.to_numpy(), self.horizon_years,
                                            self.keep_zero_followup)
            self._classes = [0, 1]
        else:
            keep = y.notna().to_numpy()
            values = sorted(pd.unique(y[keep]).tolist(), key=lambda v: (str(type(v)), v))
            if len(values) < 2:
                raise ValueError(
                    f"label column {self.label!r} of {self.path.name} has a single class "
                    f"{values}: a classifier needs at least two"
                )
            check_label_values(values, self.label, self.path.name)
            if len(values) != 2 and self.positive_label is not None:
                raise ValueError(
                    f"positive_label={self.positive_label!r} makes a binary task, but label "
                    f"column {self.label!r} of {self.path.name} has {len(values)} values "
                    f"{values}; give a column with two values, or drop positive_label for a "
                    "multi-class task")
            if len(values) == 2 and self.positive_label is not None:
                if self.positive_label not in values:
                    raise ValueError(f"positive_label {self.positive_label!r} is not one of "
                                     f"the label values {values}")
                values = [v for v in values if v != self.positive_label] + [self.positive_label]
            self._classes = values
            codes = {v: i for i, v in enumerate(values)}
            labels = np.array([codes.get(v, -1) for v in y], dtype=np.int64)
        if len(np.unique(labels[keep])) < 2:
            raise ValueError(f"the labelled rows of {self.path.name} hold a single class: a "
                             "classifier needs at least two")
        return keep, labels

    @property
    def classes(self) -> list:
        """Label values in class-index order (``[0, 1]`` for survival labels)."""
        self.state  # noqa: B018 (loads the file on first use)
        return list(self._classes)

    def load(self) -> tuple[pd.DataFrame, np.ndarray]:
        frame, y = self._read()
        keep, labels = self._labels(y)
        X = self._encode(frame.loc[keep])
        return X, labels[keep]
