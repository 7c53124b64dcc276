"""docs/how-to/vision-models.md runs as printed: its python blocks, in order, in one namespace."""
import re
from pathlib import Path

import pytest
import torch

PAGE = Path(__file__).resolve().parents[1] / "docs" / "how-to" / "vision-models.md"


@pytest.mark.slow  # ~40 s on a shared 2-core machine (timm, torchvision, Captum models)
def test_the_how_to_runs_top_to_bottom(tmp_path, monkeypatch):
    pytest.importorskip("timm")
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace = {"__name__": "vision_models_how_to"}
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"{PAGE.name}[{i}]", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    # What the page claims, checked on what it built.
    assert namespace["ta_map"].shape == namespace["x"].shape
    assert not torch.allclose(namespace["ta_map"], namespace["all_blocks"])
    assert namespace["cam"].shape == namespace["images"].shape
    assert set(namespace["maps"]) == {"captum_ig", "abs_grad"}
    assert namespace["prior"].method == "abs_grad"
