"""Moved to :mod:`priors.report.jobs` (this path re-exports it)."""
from .report.jobs import _flatten, _load_config, _read_job, collect, find_jobs  # noqa: F401
from .report.table import EVAL_PREFIX  # noqa: F401
