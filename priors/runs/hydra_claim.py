"""Hydra callback that claims the run folder before Hydra writes ``.hydra/`` into it.

Hydra saves ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` before it calls the
task function, so a claim inside :func:`priors.pipeline.run` comes too late: a refused second
run would already have replaced the first run's ``.hydra/``. ``on_run_start`` runs before that
(``hydra.run.dir`` resolves to the same folder: Hydra's ``now`` resolver is cached), and
``on_multirun_start`` claims the sweep folder before the launcher writes ``multirun.yaml``.
Registered in ``conf/hydra/default.yaml`` (``hydra.callbacks.claim_run_dir``). A refusal
exits the process (``SystemExit``): Hydra reduces a callback's exceptions to warnings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig

from .lock import RunClaim, RunFolderBusy, RunFolderTaken, claim_run_dir

try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - older Hydra
    Callback = object


class ClaimRunDir(Callback):
    """Lock ``hydra.run.dir`` (single run) or ``hydra.sweep.dir`` (multirun) for the process."""

    def __init__(self) -> None:
        self.claim: Optional[RunClaim] = None

    def _claim(self, config: DictConfig, key: str) -> None:
        folder = Path(str(config.hydra[key].dir))
        try:
            self.claim = claim_run_dir(folder, overwrite=bool(config.get("overwrite", False)),
                                       resume=bool(config.get("ckpt_path")))
        except (RunFolderBusy, RunFolderTaken) as err:
            # Hydra turns a callback's Exception into a warning and goes on; SystemExit stops
            # the process before .hydra/ is written, with the message on stderr (exit code 1).
            raise SystemExit(f"error: {err}") from None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._claim(config, "run")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # The jobs' own folders are new subfolders of the claimed sweep folder.
        self._claim(config, "sweep")
        write_planned_jobs(config)

    def _release(self) -> None:
        if self.claim is not None:
            self.claim.release()
            self.claim = None

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._release()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._release()


PLANNED_FILE = "planned_jobs.json"


def planned_jobs(config: DictConfig) -> Optional[list]:
    """The overrides of every job the basic sweeper will launch, in job-number order
    (``None`` for other sweepers, e.g. Optuna, whose trials are not known up front)."""
    sweeper = str((config.hydra.get("sweeper") or {}).get("_target_", ""))
    if not sweeper.endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def write_planned_jobs(config: DictConfig) -> None:
    """``<sweep>/planned_jobs.json``: the job list written before the first job starts, so a
    report of an interrupted sweep lists the jobs that never started."""
    from omegaconf import OmegaConf

    from .atomic import write_json

    try:
        jobs = planned_jobs(config)
    except Exception:  # noqa: BLE001 - a sweep syntax this version cannot expand: no list
        return
    if jobs is None:
        return
    subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")
    write_json(Path(str(config.hydra.sweep.dir)) / PLANNED_FILE,
               {"subdir": subdir, "jobs": [{"num": i, "overrides": ov}
                                           for i, ov in enumerate(jobs)]})
