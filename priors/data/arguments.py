"""Validation of datamodule constructor arguments, shared by every datamodule.

Each helper returns the normalized value or raises an error that names the argument and what
is expected, so a bad Hydra override fails at construction, not deep inside ``setup``.
"""

from __future__ import annotations

from priors.core.checks import check_integer

__all__ = ["check_batch_size", "check_fraction", "check_int", "check_seed"]


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an ``int`` >= ``minimum``: :func:`priors.core.checks.check_integer`
    (integral floats such as ``100.0`` accepted; bools rejected: ``True`` is not a size).

    >>> check_int("n_train", 100, 1)
    100
    >>> check_int("n_train", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: n_train must be >= 1, got 0
    """
    return check_integer(value, name, minimum)


def check_fraction(name: str, value) -> float:
    """``value`` as a ``float`` strictly between 0 and 1.

    >>> check_fraction("val_fraction", 0.15)
    0.15
    """
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


def check_batch_size(batch_size) -> int | None:
    """An integer batch size, or ``None``; ``None`` or ``<= 0`` later means one full batch."""
    return None if batch_size is None else check_integer(batch_size, "batch_size (or None)")


def check_seed(seed) -> int:
    """A seed usable by numpy's and torch's generators: an integer in [0, 2**32)."""
    seed = check_int("seed", seed, 0)
    if seed >= 2**32:
        raise ValueError(f"seed must be < 2**32, got {seed}")
    return seed
