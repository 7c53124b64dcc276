"""The packaged NHANES copy: train.py runs with an empty data folder and no network; checksums
of the packaged files are verified at load."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from priors.data import NHANESDataModule
from priors.data.files import ChecksumError, locate, packaged_dir, read_packaged
from priors.data.nhanes import NHANES_FILES, load_nhanes

REPO = Path(__file__).resolve().parents[1]

# Loaded first by any Python that has this folder on PYTHONPATH: every socket connection and
# name lookup fails, as on a machine without network.
NO_NETWORK = '''
import socket

def _offline(*args, **kwargs):
    raise OSError("network disabled by the test's sitecustomize")

socket.socket.connect = _offline
socket.socket.connect_ex = _offline
socket.create_connection = _offline
socket.getaddrinfo = _offline
'''


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory) -> dict:
    site = tmp_path_factory.mktemp("no_network")
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]),
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               OMP_NUM_THREADS="1")
    probe = subprocess.run(
        [sys.executable, "-c", "import urllib.request as u; u.urlopen('https://github.com', timeout=5)"],
        env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "network disabled" in probe.stderr  # really offline
    return env


def test_train_py_runs_offline_from_the_packaged_copy(tmp_path, offline_env):
    data_dir, run_dir = tmp_path / "empty_data", tmp_path / "run"
    data_dir.mkdir()
    cmd = [sys.executable, "train.py", "prior=xg", "trainer.max_epochs=1", "threads=1",
           f"data.data_dir={data_dir}", f"hydra.run.dir={run_dir}", "logger=none",
           "++trainer.enable_progress_bar=false"]
    proc = subprocess.run(cmd, cwd=REPO, env=offline_env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "ok"
    # one epoch of a linear-ish MLP on 18 clinical features is already far better than chance
    assert result["metrics"]["test/auroc"] > 0.7
    assert "using the copy packaged with priors" in (run_dir / "train.log").read_text()
    assert not any(data_dir.iterdir())  # nothing was downloaded or written there


def _corrupt_copy(tmp_path: Path, name: str, payload: bytes) -> Path:
    folder = tmp_path / "packaged"
    folder.mkdir(exist_ok=True)
    for src in packaged_dir().iterdir():
        shutil.copy(src, folder / src.name)
    (folder / (name + ".gz")).write_bytes(payload)
    return folder


def test_packaged_files_match_the_published_checksums():
    for name, digest in NHANES_FILES.items():
        assert len(read_packaged(name, digest)) > 100_000  # verified inside read_packaged
    X, y = load_nhanes(REPO / "no_such_folder")  # falls back to the packaged copy
    assert X.shape == (9932, 18) and len(y) == 9932


def test_corrupted_packaged_file_fails_the_checksum(tmp_path):
    name = "NHANESI_subset_X.csv"
    good = gzip.decompress((packaged_dir() / (name + ".gz")).read_bytes())
    flipped = good.replace(b"\n1,", b"\n7,", 1)  # one changed digit, still valid CSV
    folder = _corrupt_copy(tmp_path, name, gzip.compress(flipped))
    with pytest.raises(ChecksumError) as info:
        read_packaged(name, NHANES_FILES[name], directory=folder)
    msg = str(info.value)
    assert "Checksum mismatch" in msg and NHANES_FILES[name] in msg and "reinstall" in msg
    folder = _corrupt_copy(tmp_path, name, b"not gzip at all")
    with pytest.raises(ChecksumError, match="not a readable gzip file"):
        read_packaged(name, NHANES_FILES[name], directory=folder)


def test_a_modified_file_in_the_data_folder_is_reported(tmp_path):
    """A user's own copy wins over the packaged one, with a warning when it differs."""
    (tmp_path / "NHANESI_subset_X.csv").write_text("id,Age\n1,50\n")
    with pytest.warns(UserWarning, match="does not have the expected sha256"):
        assert locate(tmp_path / "NHANESI_subset_X.csv", NHANES_FILES["NHANESI_subset_X.csv"]
                      ) == tmp_path / "NHANESI_subset_X.csv"


def test_no_packaged_copy_and_no_download_is_a_clear_error(tmp_path):
    dm = NHANESDataModule(data_dir=tmp_path, packaged=False, download=False)
    with pytest.raises(FileNotFoundError, match="download=True"):
        dm.setup()


def test_package_data_is_declared_for_setuptools():
    """pip install (editable or not) copies package data only if pyproject declares it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["priors.data"]
    shipped = sorted(p.name for p in packaged_dir().iterdir())
    assert shipped == ["NHANESI_subset_X.csv.gz", "NHANESI_subset_y.csv.gz"]
    for name in shipped:
        assert any(Path("packaged", name).match(pattern) for pattern in patterns), name


def test_wheel_ships_the_packaged_files(tmp_path):
    """A normal (non-editable) install gets the files: build the wheel offline and look inside."""
    import zipfile

    src = tmp_path / "src"
    shutil.copytree(REPO / "priors", src / "priors",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "wheel"), str(src)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("priors-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in NHANES_FILES:
        assert f"priors/data/packaged/{name}.gz" in names
