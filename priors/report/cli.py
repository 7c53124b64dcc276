"""``priors-report`` / ``python -m priors.report DIR [DIR ...]``: the result tables of Hydra
multiruns (see :mod:`priors.report`)."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .write import write_report


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="priors-report",
                                     description="Result tables (jobs.csv, table.csv, table.md, "
                                     "table.png) of Hydra multiruns: mean +- SE over seeds, "
                                     "the weight chosen on validation, paired t-tests.")
    parser.add_argument("dirs", nargs="+", help="multirun directories (searched recursively)")
    parser.add_argument("--out", help="output folder (default: the first directory)")
    parser.add_argument("--metric", default="test/auroc", help="reported metric")
    parser.add_argument("--select", default="val/auroc_best", help="weight-selection metric")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    try:
        paths = write_report(args.dirs, args.out, args.metric, args.select, not args.no_plot)
    except (FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(paths["markdown"].read_text())
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
