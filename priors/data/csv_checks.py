"""Checks of a user's CSV at the edge, each naming the file and what is expected.

pandas reads a header with a name twice as ``died`` and ``died.1``: the copy of the label
became a feature (test AUROC 1.0). Non-UTF-8 bytes, an empty file or a missing ``index_col``
gave raw pandas errors without the file name; label values differing only in case or
whitespace (``yes``/``Yes``) became extra classes.
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter
from typing import Any, Iterable, List, Optional

import pandas as pd


def _header(source: Any) -> Optional[List[str]]:
    """The raw header fields of a CSV path or seekable binary file (``None``: unreadable)."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, newline="", encoding="utf-8") as handle:
                return next(csv.reader(handle), [])
        position = source.tell()
        line = source.readline()
        source.seek(position)
        return next(csv.reader(io.StringIO(line.decode("utf-8"))), [])
    except (OSError, UnicodeDecodeError, AttributeError):
        return None


def read_csv_checked(source: Any, name: str, index_col: Optional[str] = None) -> pd.DataFrame:
    """``pd.read_csv(source, index_col=index_col)`` with clear errors: duplicate column names
    (named), an empty file, non-UTF-8 bytes, an ``index_col`` that is no column."""
    header = _header(source)
    if header == []:
        raise ValueError(f"{name} is empty: a CSV with a header row and data rows is expected")
    if header:
        duplicates = sorted(k for k, n in Counter(header).items() if n > 1)
        if duplicates:
            raise ValueError(f"{name} has duplicate column names {duplicates}: pandas would "
                             "rename the copies (e.g. 'died.1') and a copy of the label would "
                             "become a feature; rename or drop the duplicates")
    if index_col is not None and header is not None and index_col not in header:
        raise ValueError(f"index_col {index_col!r} is not a column of {name}; its columns are "
                         f"{header} (set data.index_col=<column> or null)")
    try:
        return pd.read_csv(source, index_col=index_col)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{name} is empty: a CSV with a header row and data rows is "
                         "expected") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{name} is not UTF-8 text (byte {err.object[err.start]:#04x} at "
                         f"offset {err.start}); save it as UTF-8") from None


def check_label_values(values: Iterable[Any], label: str, name: str) -> None:
    """Refuse text labels that differ only in case or surrounding whitespace."""
    groups: dict = {}
    for value in values:
        if isinstance(value, str):
            groups.setdefault(value.strip().casefold(), []).append(value)
    clashes = [sorted(v) for v in groups.values() if len(v) > 1]
    if clashes:
        raise ValueError(f"label column {label!r} of {name} has values that differ only in "
                         f"case or whitespace: {clashes}; they would be separate classes. "
                         "Clean the column (one spelling per class)")
