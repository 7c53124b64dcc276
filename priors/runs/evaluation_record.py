"""``evaluation/evaluation.json``: which model an evaluation scored, and whether it finished.

Before this record, an evaluation of an earlier model stayed in ``<run>/evaluation/`` after
the run was retrained and the report credited it to the new model; an interrupted
re-evaluation left new curve CSVs beside the old ``scores.csv`` and ``summary.md``. Now
:func:`start_evaluation` replaces the record with ``status: running`` before the first file is
written, :func:`finish_evaluation` writes ``status: ok`` with the model's ``run_id`` and
SHA-256, the files written and any ``allow_data_change`` reasons, last of all; and
:func:`evaluation_problem` says why an evaluation folder must not be read for a run.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .atomic import write_json

EVALUATION_FILE = "evaluation.json"


def _model_sha(result: Dict[str, Any]) -> Optional[str]:
    return ((result.get("files") or {}).get("model.pt") or {}).get("sha256")


def start_evaluation(out_dir: str | os.PathLike, result: Dict[str, Any]) -> Dict[str, Any]:
    record = {"status": "running", "run_id": result.get("run_id"),
              "model_sha256": _model_sha(result), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "pid": os.getpid()}
    write_json(Path(out_dir) / EVALUATION_FILE, record)
    return record


def finish_evaluation(out_dir: str | os.PathLike, record: Dict[str, Any], files: List[str],
                      data_changes: List[str], options: Dict[str, Any]) -> None:
    record.update(status="ok", files=sorted(set(files)), data_changes=list(data_changes),
                  allow_data_change=bool(data_changes), options=options,
                  finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    write_json(Path(out_dir) / EVALUATION_FILE, record)


def evaluation_problem(eval_dir: str | os.PathLike, result: Dict[str, Any]) -> Optional[str]:
    """Why ``eval_dir`` does not hold a finished evaluation of the model ``result`` describes
    (``None``: it does and may be read)."""
    path = Path(eval_dir) / EVALUATION_FILE
    if not path.is_file():
        return (f"{path.name} missing: the evaluation was interrupted or predates evaluation "
                "records; re-run evaluate.py")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return f"{path.name} unreadable ({err})"
    if not isinstance(record, dict):
        return f"{path.name} is not a JSON object"
    if record.get("status") != "ok":
        return f"evaluation {record.get('status')!r}: interrupted before it finished"
    sha = _model_sha(result)
    if sha and record.get("model_sha256") != sha:
        return ("stale: it scored another model.pt (the run was retrained after this "
                "evaluation)")
    if record.get("run_id") != result.get("run_id"):
        return "stale: it belongs to another run of this folder"
    return None
