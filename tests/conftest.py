from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_NHANES_FILES = ("NHANESI_subset_X.csv", "NHANESI_subset_y.csv")


@pytest.fixture(scope="session")
def nhanes_dir() -> Path:
    """Folder with the NHANES CSVs: <repo>/data/nhanes, else ../shared/data/nhanes beside the repo.

    Fails (never skips) when neither has the files: the NHANES tests must run in CI.
    """
    candidates = [REPO_ROOT / "data" / "nhanes", REPO_ROOT.parent / "shared" / "data" / "nhanes"]
    for cand in candidates:
        if all((cand / name).is_file() for name in _NHANES_FILES):
            return cand
    pytest.fail(
        "NHANES data not found; looked for " + ", ".join(_NHANES_FILES) + " in "
        + " and ".join(str(c) for c in candidates)
        + ". Copy them there (see data/README.md), e.g. "
        "`mkdir -p data/nhanes && cp ../shared/data/nhanes/*.csv data/nhanes/`."
    )
