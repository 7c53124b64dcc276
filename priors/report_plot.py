"""Moved to :mod:`priors.report.plot` (this path re-exports it)."""
from .report.plot import plot_table  # noqa: F401
