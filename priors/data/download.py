"""Download a file into a path, verifying its sha256.

The helper is deliberately small: it uses only the standard library, writes to a
temporary ``.part`` file next to the destination and renames it into place only after the
checksum matches, so an interrupted or corrupt download never leaves a file that looks
valid. Every failure raises :class:`DownloadError` whose message names the URL, the
expected path and how to fetch the file by hand (useful on offline machines).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["DatasetNotFoundError", "DownloadError", "download_url", "sha256sum"]

_CHUNK = 1 << 20


class DatasetNotFoundError(FileNotFoundError, RuntimeError):
    """A data file is missing (and could not, or may not, be downloaded).

    Subclasses both :class:`FileNotFoundError` and :class:`RuntimeError` so callers can catch
    either.
    """


class DownloadError(DatasetNotFoundError):
    """A download failed (network error, timeout, HTTP error or checksum mismatch)."""


def sha256sum(path: str | os.PathLike) -> str:
    """Hex sha256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manual_download_hint(url: str, path: str | os.PathLike, sha256: str | None = None) -> str:
    """Human-readable instructions for fetching ``url`` into ``path`` by hand."""
    path = Path(path)
    hint = (
        f"To get the file by hand, on a machine with network access run\n"
        f"    curl -L --create-dirs -o '{path}' '{url}'\n"
        f"(or download it in a browser) and copy it to {path}"
    )
    if sha256:
        hint += f"; its sha256 must be {sha256} (check with `sha256sum '{path}'`)"
    return hint + "."


def download_url(
    url: str,
    path: str | os.PathLike,
    sha256: str | None = None,
    timeout: float = 10.0,
    overwrite: bool = False,
) -> Path:
    """Download ``url`` to ``path`` and verify its sha256; return the path.

    If ``path`` already exists and (when ``sha256`` is given) its checksum matches, nothing is
    downloaded unless ``overwrite=True``. An existing file with a wrong checksum raises
    :class:`DownloadError` rather than being silently replaced.

    Args:
        url: source URL (``http(s)://`` or ``file://``).
        path: destination file; parent folders are created.
        sha256: expected lowercase hex digest, or ``None`` to skip verification.
        timeout: socket timeout in seconds for connecting and for each read, so an offline
            machine fails fast instead of hanging.
        overwrite: download even if ``path`` exists.

    Raises:
        DownloadError: on any network/HTTP/OS error or a checksum mismatch. The message
            names the URL, the expected path and how to fetch the file by hand.
    """
    path = Path(path)
    expected = sha256.lower() if sha256 else None

    if path.exists() and not overwrite:
        if expected is None:
            return path
        actual = sha256sum(path)
        if actual == expected:
            return path
        raise DownloadError(
            f"{path} exists but its sha256 is {actual}, expected {expected} (file from {url}). "
            f"Delete it (or pass overwrite=True) to download it again. "
            + manual_download_hint(url, path, expected)
        )

    part = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        request = urllib.request.Request(url, headers={"User-Agent": "priors-data-download"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"Could not download {url} to {path}: {err}. "
            f"The machine may be offline. " + manual_download_hint(url, path, expected)
        ) from err

    if expected is not None:
        actual = sha256sum(part)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"Checksum mismatch for {url}: got sha256 {actual}, expected {expected}; "
                f"nothing was written to {path}. The upstream file may have changed. "
                + manual_download_hint(url, path, expected)
            )
    os.replace(part, path)
    return path
