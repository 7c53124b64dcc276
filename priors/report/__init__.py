"""Result tables from Hydra multiruns: ``priors-report multirun/<time> [more dirs]`` (or
``python -m priors.report ...``).

Every job directory (one with a ``.hydra/`` folder) becomes one row of a jobs table
(:mod:`~priors.report.jobs`); the summary table (:mod:`~priors.report.table`) has one row per
setting with mean +- standard error over seeds, the weight chosen on validation and a paired
t-test against the unregularized runs; :mod:`~priors.report.write` writes ``jobs.csv``,
``table.csv``, ``table.md`` and ``table.png`` (:mod:`~priors.report.plot`).
"""
from ..core.tables import markdown_table
from .cli import main
from .jobs import collect, find_jobs
from .table import BASELINE, EVAL_PREFIX, display_table, problems, summarize
from .write import write_report

__all__ = ["BASELINE", "EVAL_PREFIX", "collect", "display_table", "find_jobs", "main",
           "markdown_table", "problems", "summarize", "write_report"]
