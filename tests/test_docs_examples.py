"""Every ```python block of the documentation pages runs, top to bottom, as printed.

Each page's ``python`` blocks run in order in one namespace (a page reads as one script), in a
temporary working directory so that nothing is written into the repository. Blocks fenced as
``py`` are illustrations (a file's skeleton with ``...``) and are not run. The tutorials are
notebooks, executed by ``docs/render_tutorials.py`` (``docs/build.sh``), not here.
"""
import re
from pathlib import Path

import pytest
import torch

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "tutorials" not in p.relative_to(DOCS).parts)


def python_blocks(page: Path) -> list:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_docs_pages_exist_and_some_run_code():
    assert (DOCS / "index.md").exists() and len(PAGES) >= 10
    assert sum(len(python_blocks(p)) for p in PAGES) >= 5


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)],
                         ids=lambda p: str(p.relative_to(DOCS)))
def test_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest on a shared machine
    namespace = {"__name__": "docs_example"}
    try:
        for i, block in enumerate(python_blocks(page)):
            exec(compile(block, f"{page.relative_to(DOCS)}[block {i}]", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    assert not (tmp_path / "lightning_logs").exists(), "an example left lightning_logs/ behind"
