"""The text how-to's python blocks run top to bottom."""
from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "how-to" / "text-classifiers.md"


def test_text_how_to_runs(one_thread):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert namespace["scores"].shape == namespace["tokens"].shape
    assert float(namespace["trainer"].callback_metrics["train/prior"]) > 0
