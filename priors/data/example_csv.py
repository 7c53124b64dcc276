"""A small made-up patient table as CSV, to try ``data=csv`` (and used by the tests).

``python -m priors.data.example_csv patients.csv`` writes 400 rows: ``id``, numeric ``age``,
``sbp`` (systolic blood pressure), ``bmi`` (5 % missing), categorical ``smoker`` (yes/no) and
``region`` (four values), and the binary label ``died``, drawn from a logistic model in which
age, smoking and blood pressure raise the risk while ``bmi`` and ``region`` do not matter.

>>> import tempfile, pandas as pd
>>> with tempfile.TemporaryDirectory() as d:
...     table = pd.read_csv(write_example_csv(d + "/p.csv", n_rows=50))
>>> list(table.columns)
['id', 'age', 'sbp', 'bmi', 'smoker', 'region', 'died']
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["example_table", "write_example_csv"]


def example_table(n_rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """The table described in the module docstring (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(30, 80, n_rows).round(1)
    sbp = rng.normal(130, 18, n_rows).round(0)
    bmi = rng.normal(26, 4, n_rows).round(1)
    bmi[rng.random(n_rows) < 0.05] = np.nan
    smoker = rng.random(n_rows) < 0.3
    region = rng.choice(["north", "south", "east", "west"], n_rows)
    logit = 0.09 * (age - 55) + 1.5 * smoker + 0.04 * (sbp - 130) - 1.5
    died = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({
        "id": np.arange(1, n_rows + 1), "age": age, "sbp": sbp, "bmi": bmi,
        "smoker": np.where(smoker, "yes", "no"), "region": region, "died": died,
    })


def write_example_csv(path: str | os.PathLike, n_rows: int = 400, seed: int = 0) -> Path:
    """Write :func:`example_table` to ``path``; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example_table(n_rows, seed).to_csv(path, index=False)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", default="patients.csv")
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_example_csv(args.path, args.rows, args.seed))


if __name__ == "__main__":
    main()
