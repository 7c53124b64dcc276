"""The one Markdown table writer: GitHub pipe tables for ``table.md``, ``summary.md`` and
``roar_table.md`` without the ``tabulate`` dependency that ``DataFrame.to_markdown`` needs."""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def format_cell(value: Any, digits: int = 4) -> str:
    """A cell's text: floats with ``digits`` decimals (small ones in ``g`` format so they do not
    print as zero), ``nan`` as ``-``, ``True`` as ``yes`` and ``False`` as an empty cell."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}g}" if 0 < abs(value) < 1e-3 else f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: Any, digits: int = 4) -> str:
    """A GitHub Markdown table of a DataFrame (its columns as the header, no index), cells by
    :func:`format_cell`; ``|`` inside a cell is escaped."""
    def row(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    cols = list(frame.columns)
    lines = [row(cols), "|" + "|".join("---" for _ in cols) + "|"]
    lines += [row(format_cell(v, digits) for v in values)
              for values in frame.itertuples(index=False)]
    return "\n".join(lines)
