"""The standard error of a mean, the one definition the report, ROAR and the sanity checks use."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np


def standard_error(values: Iterable[float]) -> float:
    """Standard error of the mean of the finite ``values``: the sample standard deviation
    (``ddof=1``, Bessel's correction) divided by the square root of their count; ``nan`` with
    fewer than two finite values (the spread of one value is unknown, not zero).

    >>> standard_error([1.0, 2.0, 3.0, float("nan")])  # std 1, n 3
    0.5773502691896258
    """
    x = np.asarray(list(values) if not hasattr(values, "__array__") else values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return math.nan
    return float(x.std(ddof=1) / math.sqrt(len(x)))
