"""Every ``>>>`` example in ``priors/`` runs (doctest), and no example is left un-run.

Modules are discovered with ``pkgutil.walk_packages``, so new modules are covered without
editing this file.
"""
from __future__ import annotations

import doctest
import importlib
import io
import pkgutil
import re
import types
from pathlib import Path

import pytest
import torch

import priors

MODULES = sorted(info.name for info in pkgutil.walk_packages(priors.__path__, "priors."))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_modules_are_discovered():
    assert {"priors.training.prior", "priors.data.contract", "priors.callbacks.attribution_maps"} <= set(MODULES)


def run_doctests(module) -> tuple[doctest.TestResults, str]:
    """Run every example of ``module`` (one thread, seeded); return the results and report."""
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module.__name__)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for test in tests:
            if test.examples:
                torch.manual_seed(0)
                runner.run(test, out=report.write)
    finally:
        torch.set_num_threads(threads)
    return runner.summarize(verbose=False), report.getvalue()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    result, report = run_doctests(importlib.import_module(name))
    assert result.failed == 0, report


def test_a_wrong_example_is_reported():
    module = types.ModuleType("wrong_example", "Docstring.\n\n>>> 1 + 1\n3\n")
    result, report = run_doctests(module)
    assert (result.failed, result.attempted) == (1, 1) and "Expected:\n    3" in report


def test_no_example_blocks_left_as_plain_literals():
    """``Example::`` (a literal block nobody runs) must become ``>>>`` examples."""
    root = Path(priors.__file__).parent
    offenders = [f"{path.relative_to(root.parent)}:{text.count(chr(10), 0, m.start()) + 1}"
                 for path in sorted(root.rglob("*.py"))
                 for text in [path.read_text()]
                 for m in re.finditer(r"Examples?::", text)]
    assert not offenders, f"convert these Example:: blocks to >>> doctests: {offenders}"
