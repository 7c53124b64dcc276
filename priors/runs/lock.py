"""A run folder belongs to one run: an exclusive lock while the run writes it, and a refusal to
start a second run in a folder that already holds one.

Two ``train.py`` with the same ``hydra.run.dir`` used to write the same ``result.json``,
``model.pt`` and ``.hydra/``: the folder ended with files of both runs. :func:`claim_run_dir`
takes an ``fcntl.flock`` on ``<run>/.run.lock`` for the life of the process (the kernel drops
it when the process dies, even by SIGKILL, so a killed run never leaves a stale lock) and
refuses

* a folder another live process holds (:class:`RunFolderBusy`), and
* a folder that already holds a run's results (:class:`RunFolderTaken`), unless the caller
  resumes it (``ckpt_path``) or asks ``overwrite=true``, which first moves the old run aside
  to ``<run>.replaced-<time>`` whole, so that nothing of the two runs mixes.

``train.py`` claims the folder in a Hydra callback (:mod:`priors.runs.hydra_claim`) before
Hydra writes ``.hydra/``; :func:`priors.pipeline.run` claims it again (a no-op in the same
process) for runs started from Python.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

try:  # POSIX; elsewhere the claim is a best-effort marker file only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_FILE = ".run.lock"
# Files and folders that mean "a run already wrote its results here". Hydra's own .hydra/ and
# the job log are written before the run starts and do not count.
# Name part of a run folder moved aside by overwrite=true; readers that search folders for
# runs (evaluate.py, the report, ROAR) skip such folders: they are no part of the sweep.
REPLACED_MARK = ".replaced-"
RUN_OUTPUTS = ("result.json", "model.pt", "checkpoints", "evaluation", "multirun.yaml")


class RunFolderBusy(RuntimeError):
    """Another live process is writing this run folder."""


class RunFolderTaken(RuntimeError):
    """The run folder already holds a run's results."""


@dataclass
class RunClaim:
    """The held lock of one run folder (released when the process exits)."""

    path: Path
    handle: object

    def release(self) -> None:
        _HELD.pop(_key(self.path), None)
        if not self.handle.closed:
            self.handle.close()  # closing the file drops the flock


_HELD: Dict[str, RunClaim] = {}


def _key(path: Path) -> str:
    return str(Path(path).resolve())


def _is_worker_rank() -> bool:
    """A DDP rank other than 0 (Lightning re-launches the script with these variables): only
    rank 0 writes the run folder, so only it claims it."""
    return any(os.environ.get(v, "0") not in ("", "0") for v in ("LOCAL_RANK", "NODE_RANK"))


def _holder(lock: Path) -> str:
    try:
        info = json.loads(lock.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    return (f"process {info.get('pid', '?')} on {info.get('host', '?')}, started "
            f"{info.get('started', '?')}: {info.get('command', '')}").strip()


def _try_lock(path: Path) -> Optional[object]:
    """The open, flock-ed lock file of ``path``, or ``None`` when another process holds it."""
    path.mkdir(parents=True, exist_ok=True)
    handle = open(path / LOCK_FILE, "a+")
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def held_by_other(path: str | os.PathLike) -> Optional[str]:
    """Who holds ``path``'s run lock, if a process other than this one does; else ``None``.

    Readers (evaluation, report) call this to skip a run that is still being written."""
    path = Path(path)
    lock = path / LOCK_FILE
    if _key(path) in _HELD or not lock.is_file() or fcntl is None:
        return None
    with open(lock, "r") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(lock)
    return None


def existing_outputs(path: str | os.PathLike) -> List[str]:
    """The run outputs (:data:`RUN_OUTPUTS`) already in ``path``."""
    path = Path(path)
    return [name for name in RUN_OUTPUTS if (path / name).exists()]


def _describe(path: Path) -> str:
    try:
        result = json.loads((path / "result.json").read_text())
        return f"status {result.get('status')!r}, run {result.get('run_id', '?')}"
    except (OSError, ValueError, AttributeError):
        return "files: " + ", ".join(existing_outputs(path))


def is_replaced(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies in a run folder that ``overwrite=true`` moved aside."""
    return any(REPLACED_MARK in part for part in Path(path).parts)


def move_aside(path: Path) -> Path:
    """Rename the run folder ``path`` to a free ``<name>.replaced-<time>[-n]`` beside it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}{REPLACED_MARK}{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}{REPLACED_MARK}{stamp}-{n}")
        n += 1
    os.replace(path, target)
    return target


def claim_run_dir(path: str | os.PathLike, *, overwrite: bool = False,
                  resume: bool = False) -> Optional[RunClaim]:
    """Lock the run folder ``path`` for this process (``None`` on a DDP worker rank).

    Args:
        overwrite: a folder that holds a finished (or failed) run is moved aside whole to
            ``<path>.replaced-<time>`` and the new run starts in an empty folder.
        resume: the run continues the one in the folder (``ckpt_path``): its files stay.

    Raises:
        RunFolderBusy: another live process holds the folder (even with ``overwrite``).
        RunFolderTaken: the folder holds a run's results and neither option is given.
    """
    path = Path(path)
    if _is_worker_rank():
        return None
    if _key(path) in _HELD:
        return _HELD[_key(path)]
    handle = _try_lock(path)
    if handle is None:
        raise RunFolderBusy(
            f"run folder {path} is being written by {_holder(path / LOCK_FILE)}. Two runs in "
            "one folder would mix their result.json, model.pt and .hydra/; choose another "
            "hydra.run.dir (or paths.output_dir), or wait for that run to end")
    found = existing_outputs(path)
    if found and not resume:
        if not overwrite:
            handle.close()
            raise RunFolderTaken(
                f"run folder {path} already holds a run ({_describe(path)}; {', '.join(found)})."
                " A second run there would mix its files with that one's. Choose another "
                "hydra.run.dir, resume it with ckpt_path=last, or pass overwrite=true to move "
                f"the old run aside to {path.name}.replaced-<time> first")
        aside = move_aside(path)
        handle.close()
        handle = _try_lock(path)
        if handle is None:  # someone claimed the fresh folder in between
            raise RunFolderBusy(f"run folder {path} was claimed by {_holder(path / LOCK_FILE)} "
                                f"after the old run was moved to {aside}")
        print(f"[priors] overwrite=true: the previous run in {path} was moved to {aside}",
              file=sys.stderr)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                             "command": " ".join(sys.argv)[:500]}))
    handle.flush()
    claim = RunClaim(path, handle)
    _HELD[_key(path)] = claim
    return claim
