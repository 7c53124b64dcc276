"""Reading the job directories of a Hydra multirun: config, status, metrics, error per job."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, List

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

# Evaluation areas (evaluate.py's evaluation/scores.csv) become columns eval/<metric>/<method>.
EVAL_PREFIX = "eval/"


def find_jobs(dirs: Iterable[str | Path]) -> List[Path]:
    """Job directories (those holding ``.hydra/``) under each of ``dirs``."""
    jobs: List[Path] = []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise FileNotFoundError(f"no such multirun directory: {d}")
        found = sorted({p.parent for p in d.rglob(".hydra") if p.is_dir()})
        if not found:
            raise FileNotFoundError(f"{d} holds no Hydra job directories (none has .hydra/)")
        jobs += found
    return jobs


def _flatten(cfg: dict, prefix: str = "") -> Dict[str, object]:
    flat: Dict[str, object] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = tuple(value) if isinstance(value, list) else value
    return flat


def _read_job(job: Path) -> dict:
    result_file = job / "result.json"
    result: dict = {}
    if result_file.is_file():
        try:
            result = json.loads(result_file.read_text())
        except json.JSONDecodeError as err:
            result = {"status": "failed", "error": f"unreadable result.json: {err}"}
    status = result.get("status", "unfinished")
    if status == "running":
        status = "unfinished"
    config = result.get("config")
    if config is None and (job / ".hydra" / "config.yaml").is_file():
        config = _load_config(job)
    overrides = []
    if (job / ".hydra" / "overrides.yaml").is_file():
        overrides = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "overrides.yaml"))
    error = str(result.get("error") or "").strip().splitlines()
    metrics = dict(result.get("metrics") or {})
    scores = job / "evaluation" / "scores.csv"
    if scores.is_file():  # written by evaluate.py: one area per keep/remove metric and method
        for row in pd.read_csv(scores).itertuples():
            metrics[f"{EVAL_PREFIX}{row.metric}/{row.method}"] = float(row.auc)
    return {"job": str(job), "status": status, "config": config or {},
            "overrides": " ".join(map(str, overrides)), "metrics": metrics,
            "seconds": result.get("seconds", np.nan), "error": error[-1] if error else ""}


def _load_config(job: Path) -> dict:
    """The composed config of a job without result.json, resolved where possible (outside the
    job, ``${hydra:...}`` cannot resolve, so the output dir is set to the job dir first)."""
    cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
    if "paths" in cfg and "output_dir" in cfg.paths:
        cfg.paths.output_dir = str(job)
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - other resolvers: keep the unresolved values
        return OmegaConf.to_container(cfg)
