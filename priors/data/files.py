"""Where a data file comes from: the data folder, the copy packaged with ``priors``, or a download.

Small public-domain files ship gzip-compressed inside the package (``priors/data/packaged/``,
installed as package data), so the main experiments run with no network. :func:`locate` picks,
in this order:

1. ``<data_dir>/<name>`` when it exists (the user's copy or an earlier download; a checksum
   that differs from the known one is reported as a warning: it may be the user's own edit),
2. the packaged copy, decompressed in memory and verified against the sha256 of the
   *uncompressed* file (a mismatch raises :class:`ChecksumError`),
3. a download (``download=True`` and a known URL) with sha256 verification, into ``data_dir``,

and otherwise raises :class:`~priors.data.download.DatasetNotFoundError` naming the path, the
URL and the expected checksum.

>>> sorted(packaged_names())
['NHANESI_subset_X.csv', 'NHANESI_subset_y.csv']
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import warnings
from importlib import resources
from pathlib import Path
from typing import Sequence, Union

from priors.data.download import (
    DatasetNotFoundError,
    DownloadError,
    download_url,
    manual_download_hint,
    sha256sum,
)

__all__ = [
    "REPO_ROOT",
    "ChecksumError",
    "extract_packaged",
    "locate",
    "open_packaged",
    "packaged_dir",
    "packaged_names",
    "resolve_data_dir",
]

#: Repository root of a source checkout (``<root>/priors/data/files.py``).
REPO_ROOT = Path(__file__).resolve().parents[2]

Readable = Union[Path, io.BytesIO]

log = logging.getLogger(__name__)


class ChecksumError(RuntimeError):
    """A packaged data file does not have the sha256 it was shipped with (corrupted install)."""


def packaged_dir():
    """The folder of packaged data files (a ``Traversable``; a ``Path`` for normal installs)."""
    return resources.files("priors.data") / "packaged"


def packaged_names(directory=None) -> list[str]:
    """Names (without ``.gz``) of the packaged data files."""
    directory = packaged_dir() if directory is None else directory
    if not directory.is_dir():
        return []
    return [p.name[:-3] for p in directory.iterdir() if p.name.endswith(".gz")]


def read_packaged(name: str, sha256: str, directory=None) -> bytes:
    """Uncompressed bytes of the packaged ``name``, verified against ``sha256``.

    Raises:
        DatasetNotFoundError: ``name`` is not packaged.
        ChecksumError: the content is corrupt (bad gzip stream or wrong sha256).
    """
    directory = packaged_dir() if directory is None else directory
    source = directory / (name + ".gz")
    if not source.is_file():
        raise DatasetNotFoundError(f"{name} is not packaged with priors (looked for {source}).")
    try:
        data = gzip.decompress(source.read_bytes())
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise ChecksumError(
            f"The packaged copy {source} is not a readable gzip file ({err}); the installation "
            "is corrupted. Reinstall priors (pip install --force-reinstall -e .) or put "
            f"{name} into the data folder."
        ) from err
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256.lower():
        raise ChecksumError(
            f"Checksum mismatch for the packaged copy {source}: its content has sha256 "
            f"{actual}, expected {sha256}. The installation is corrupted; reinstall priors "
            f"(pip install --force-reinstall -e .) or put a verified {name} into the data folder."
        )
    return data


def open_packaged(name: str, sha256: str, directory=None) -> io.BytesIO:
    """The verified packaged file as a binary file object (``.name`` says where it came from)."""
    directory = packaged_dir() if directory is None else directory
    buffer = io.BytesIO(read_packaged(name, sha256, directory))
    buffer.name = f"{directory / (name + '.gz')} (packaged copy)"
    return buffer


def extract_packaged(name: str, sha256: str, dest_dir: str | os.PathLike,
                     directory=None) -> Path:
    """Write the verified packaged ``name`` into ``dest_dir``; return its path."""
    dest = Path(dest_dir) / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(read_packaged(name, sha256, directory))
    return dest


def locate(
    path: str | os.PathLike,
    sha256: str | None = None,
    url: str | None = None,
    download: bool = True,
    packaged: bool = True,
    what: str = "Data",
) -> Readable:
    """A readable source for ``path``: the file, else its packaged copy, else a download.

    See the module docstring for the order. Returns a ``Path`` or a ``BytesIO`` (both are
    accepted by :func:`pandas.read_csv`).

    Raises:
        ChecksumError: the packaged copy is corrupt.
        DownloadError: the download failed (offline, HTTP error, checksum mismatch).
        DatasetNotFoundError: the file is nowhere and may not (or cannot) be downloaded.
    """
    path = Path(path)
    if path.is_file():
        if sha256 and sha256sum(path) != sha256:
            warnings.warn(
                f"{path} does not have the expected sha256 {sha256}; it differs from the "
                "published file.",
                stacklevel=2,
            )
        return path
    if packaged and sha256 and path.name in packaged_names():
        log.info("%s is not in %s: using the copy packaged with priors", path.name, path.parent)
        return open_packaged(path.name, sha256)
    if download and url:
        try:
            return download_url(url, path, sha256=sha256)
        except DownloadError as err:
            raise DownloadError(
                f"{what} not found in {path.parent} and the download failed "
                f"(see data/README.md). {err}"
            ) from err
    hint = manual_download_hint(url, path, sha256) if url else ""
    how = " Pass download=True to fetch it." if url and not download else ""
    raise DatasetNotFoundError(f"{what} file not found: {path}.{how} {hint}".rstrip())


def resolve_data_dir(
    data_dir: str | os.PathLike,
    required: Sequence[str] = (),
    repo_root: str | os.PathLike | None = None,
) -> Path:
    """Absolute folder for ``data_dir``.

    An absolute ``data_dir`` is returned as is. A relative one is tried against the current
    working directory and then against the repository root (``Path(priors.__file__)
    .parents[1]``), because Hydra may change the working directory to its output folder. The
    first candidate holding all ``required`` files wins, else the first existing folder,
    else the cwd-relative path (where a download would go and what error messages name).
    """
    path = Path(data_dir).expanduser()
    if path.is_absolute():
        return path
    root = Path(repo_root) if repo_root is not None else REPO_ROOT
    candidates = [Path.cwd() / path, root / path]
    for cand in candidates:
        if cand.is_dir() and all((cand / name).is_file() for name in required):
            return cand
    for cand in candidates:
        if cand.is_dir():
            return cand
    return candidates[0]
