"""Write a sweep's report: ``jobs.csv``, ``table.csv``, ``table.md`` and ``table.png``."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

from ..core.tables import markdown_table
from .jobs import collect
from .table import BASELINE, display_table, problems, summarize


def write_report(dirs: Sequence[str | Path], out: Optional[str | Path] = None,
                 metric: str = "test/auroc", select: str = "val/auroc_best",
                 plot: bool = True) -> Dict[str, Path]:
    """Collect, summarize and write ``jobs.csv``, ``table.csv``, ``table.md`` (+ ``table.png``)."""
    jobs = collect(dirs)
    table = summarize(jobs, metric, select)
    out = Path(out or dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    paths = {"jobs": out / "jobs.csv", "table": out / "table.csv", "markdown": out / "table.md"}
    config_cols = [c for c in jobs.columns if c.startswith("cfg:")]
    jobs.drop(columns=config_cols).to_csv(paths["jobs"], index=False)
    table.to_csv(paths["table"], index=False)
    n = jobs["status"].value_counts()
    text = [f"# Sweep results: {', '.join(map(str, dirs))}", "",
            f"{len(jobs)} jobs: {n.get('ok', 0)} ok, {n.get('failed', 0)} failed, "
            f"{n.get('unfinished', 0)} unfinished. {metric}: mean ± standard error over seeds; "
            f"`selected`: the weight with the best mean {select} per method; Δ and p: paired "
            f"t-test against `{BASELINE}` runs with the same seeds.", ""]
    text.append(markdown_table(display_table(table, metric, select)) if len(table)
                else "No job finished.")
    bad = problems(jobs)
    if len(bad):
        text += ["", "## Failed or unfinished jobs", "", markdown_table(bad)]
    paths["markdown"].write_text("\n".join(text) + "\n")
    if plot and len(table):
        from .plot import plot_table
        paths["png"] = plot_table(table, out / "table.png", metric)
    return paths
