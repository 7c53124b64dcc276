from pathlib import Path

import pytest

from priors.data.files import extract_packaged
from priors.data.nhanes import NHANES_FILES
from threads import single_thread

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def nhanes_dir(tmp_path_factory) -> Path:
    """A folder holding the real NHANES CSVs, written out from the copy packaged with priors.

    Every test that reads NHANES thus exercises the packaged files and their checksum check
    (``extract_packaged`` raises on a corrupted copy); nothing is skipped.
    """
    folder = tmp_path_factory.mktemp("nhanes")
    for name, digest in NHANES_FILES.items():
        extract_packaged(name, digest, folder)
    return folder


@pytest.fixture
def one_thread():
    """One intra-op thread for this test (see ``threads.py``)."""
    with single_thread():
        yield
