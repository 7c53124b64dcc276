"""``result.json``: what a run records, what of it is complete, and one tolerant reader.

Schema (written by :func:`priors.pipeline.run` through the atomic writer)::

    status      running | ok | failed | interrupted
    run_id      unique per run; an evaluation records the run_id and model sha256 it used
    complete    true only when status is ok and every file listed under files is written
    files       {"model.pt": {"file", "sha256", "bytes"}}
    provenance  {"data": data fingerprint (priors.runs.fingerprint)}
    metrics     {name: float}
    config      the resolved config
    error, traceback, seconds

:func:`read_result` never raises on a bad file: it returns what it could read and the problems
("result.json is empty", "is not a JSON object", "metric 'x' is not a number", "running, but no
process holds the run folder: interrupted"), so that one broken job cannot stop a report.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from .lock import held_by_other

RESULT_FILE = "result.json"
STATUSES = ("running", "ok", "failed", "interrupted")


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class ResultRead:
    """What :func:`read_result` found: the content (``{}`` when unreadable), the effective
    status (``ok``, ``failed``, ``interrupted``, ``running``, ``unfinished``, ``unreadable``)
    and the problems met."""

    result: Dict[str, Any]
    status: str
    problems: List[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.status == "ok" and bool(self.result.get("complete", True)) and \
            not self.problems


def _numeric_metrics(metrics: Any, problems: List[str]) -> Dict[str, float]:
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        problems.append(f"result.json's metrics is a {type(metrics).__name__}, not an object")
        return {}
    out = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"metric {name!r} is not a number ({value!r}); left out")
            continue
        out[name] = float(value)
    return out


def read_result(run_dir: str | os.PathLike) -> ResultRead:
    """Read ``<run_dir>/result.json`` without raising; see :class:`ResultRead`."""
    path = Path(run_dir) / RESULT_FILE
    if not path.is_file():
        return ResultRead({}, "unfinished", [f"no {RESULT_FILE}"])
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        return ResultRead({}, "unreadable", [f"{path} cannot be read: {err}"])
    if not text.strip():
        return ResultRead({}, "unreadable", [f"{path} is empty (0 bytes): an interrupted write"])
    try:
        result = json.loads(text)
    except json.JSONDecodeError as err:
        return ResultRead({}, "unreadable", [f"{path} is not valid JSON (truncated or corrupt:"
                                              f" {err})"])
    if not isinstance(result, dict):
        return ResultRead({}, "unreadable", [f"{path} holds a JSON {type(result).__name__}, "
                                              "not an object"])
    problems: List[str] = []
    result["metrics"] = _numeric_metrics(result.get("metrics"), problems)
    status = result.get("status")
    if status not in STATUSES:
        problems.append(f"unknown status {status!r}")
        status = "unreadable"
    if status == "running":
        holder = held_by_other(run_dir)
        if holder is None:  # nobody writes it: the process died (SIGKILL, power cut)
            status = "interrupted"
            problems.append("result.json says running, but no process holds the run folder: "
                            "the run was killed")
        else:
            problems.append(f"still running ({holder})")
    if status == "ok" and result.get("complete") is False:
        problems.append("result.json is not marked complete")
    return ResultRead(result, status, problems)
