"""Survival times as class labels, and the shap-layout ``(X, y)`` CSV pairs that hold them.

The NHANES I files packaged by the ``shap`` project (``NHANESI_subset_{X,y}.csv`` and the full
``NHANESI_{X,y}.csv``) share one layout: ``X`` has an index column (patient id) and one column
per feature; ``y`` has the same index column and a ``y`` column of signed follow-up times in
years: ``y > 0`` means death observed ``y`` years after the exam, ``y < 0`` means the patient
was last seen alive ``|y|`` years after the exam (right-censored).

The label rule (:func:`mortality_labels`) lives here alone; :class:`~priors.data.NHANESDataModule`
and :class:`~priors.data.CSVDataModule` (``label_rule=survival``) both call it.
"""

from __future__ import annotations

import math
import os
from typing import IO, Union

import numpy as np
import pandas as pd

__all__ = ["LABEL_RULES", "mortality_labels", "read_xy_pair"]

LABEL_RULES = ("class", "survival")

Source = Union[str, os.PathLike, IO[bytes]]


def check_horizon(horizon_years: float) -> float:
    """The label horizon as a float; ``ValueError`` unless it is finite and positive."""
    horizon_years = float(horizon_years)
    if not (math.isfinite(horizon_years) and horizon_years > 0):
        raise ValueError(f"horizon_years must be a finite number > 0, got {horizon_years}")
    return horizon_years


def mortality_labels(
    y: np.ndarray | pd.Series, horizon_years: float, keep_zero_followup: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Binary mortality-within-horizon labels from signed survival times.

    Returns ``(keep, label)``: ``keep`` is a bool mask of patients with a defined label
    (died within the horizon, or known alive at the horizon); ``label`` (int64, same length)
    is 1 for ``0 < y <= horizon`` and 0 otherwise. Patients censored before the horizon
    (``-horizon <= y < 0``), ``y == 0`` (including ``-0.0``) and NaN are not kept.

    ``keep_zero_followup=True`` instead counts the rows stored as ``y = -0.0`` (censored at
    time 0, i.e. no follow-up) as survivors (label 0).

    >>> keep, label = mortality_labels([3.0, 12.0, -12.0, -4.0, -0.0], horizon_years=10)
    >>> keep.tolist(), label[keep].tolist()
    ([True, True, True, False, False], [1, 0, 0])
    """
    y = np.asarray(y, dtype=np.float64)
    positive = (y > 0) & (y <= horizon_years)
    negative = np.abs(y) > horizon_years  # alive at the horizon (NaN compares False)
    if keep_zero_followup:
        negative = negative | (y == 0)
    return positive | negative, positive.astype(np.int64)


def _name(source: Source) -> str:
    return str(getattr(source, "name", source))


def read_xy_pair(x_source: Source, y_source: Source, label: str = "y",
                 numeric: bool = True, strict: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    """Read a shap-layout pair: features and labels in two CSVs sharing an index column.

    Sources are paths or binary file objects (the packaged, checksum-verified copies). The
    index columns must match row for row and be unique. ``numeric=True`` converts everything to
    float64 (NaN kept) and raises if a value is not a number. The label is the ``label`` column,
    or the only column of ``y_source`` unless ``strict``.

    Raises:
        ValueError: the label column is missing, the files disagree on rows, or (with
            ``numeric``) a value is not numeric.
    """
    X = pd.read_csv(x_source, index_col=0)
    y_frame = pd.read_csv(y_source, index_col=0)
    x_name, y_name = _name(x_source), _name(y_source)
    if label in y_frame.columns:
        y = y_frame[label]
    elif y_frame.shape[1] == 1 and not strict:
        y = y_frame.iloc[:, 0]
    else:
        raise ValueError(
            f"{y_name}: expected an index column and a {label!r} column, got "
            f"{list(y_frame.columns)}"
        )
    if len(X) != len(y):
        raise ValueError(
            f"The row counts differ: {x_name} has {len(X)} rows, {y_name} has {len(y)}."
        )
    if not X.index.equals(y.index):
        pos = int(np.flatnonzero(np.asarray(X.index) != np.asarray(y.index))[0])
        raise ValueError(
            f"The index columns do not match row for row: row {pos} has id {X.index[pos]!r} "
            f"in {x_name} but {y.index[pos]!r} in {y_name}."
        )
    if not X.index.is_unique:
        dup = X.index[X.index.duplicated()][0]
        raise ValueError(f"{x_name}: duplicated id {dup!r} in the index column.")
    if numeric:
        try:
            X = X.astype(np.float64)
            y = y.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{x_name} / {y_name} contain non-numeric values: {err}") from err
    return X, y
