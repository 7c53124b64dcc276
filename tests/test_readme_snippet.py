"""The README's quickstart code runs as printed (so the two cannot drift)."""
import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Quickstart"


def section_code_blocks() -> list:
    text = README.read_text()
    assert SECTION in text, f"README.md lost its section {SECTION!r}"
    body = text.split(SECTION, 1)[1]
    body = re.split(r"^## ", body, maxsplit=1, flags=re.MULTILINE)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


def test_section_has_the_functional_and_callback_snippets():
    blocks = section_code_blocks()
    assert len(blocks) == 2
    assert "prior(model, x, y)" in blocks[0]
    assert "AttributionPrior(" in blocks[1] and "PriorCostMonitor(" in blocks[1]


def test_readme_is_a_landing_page():
    assert len(README.read_text().splitlines()) <= 200


@pytest.mark.parametrize("index", [0, 1])
def test_readme_snippet_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a snippet that writes into the working directory shows here
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is faster on a shared 2-core machine
    namespace = {"__name__": "readme_snippet"}
    try:
        exec(compile(section_code_blocks()[index], f"README.md[{SECTION}][{index}]", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    if index == 1:
        summary = namespace["monitor"].summary()
        assert summary["prior_cost/mean_ratio"] > 0 and summary["prior_cost/n_baseline"] >= 3
        assert float(namespace["trainer"].callback_metrics["train/prior_epoch"]) < 0
        assert "[PriorCostMonitor] mean_step_ms=" in capsys.readouterr().out
        assert list(tmp_path.iterdir()) == [], "the Lightning snippet wrote into the working dir"
    else:
        grads = [p.grad for p in namespace["model"].parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
