"""Reading the job directories of a Hydra multirun: one row per job (its config, status, final
metrics, error; jobs that failed or never finished are listed, never dropped). Jobs evaluated by
``evaluate.py`` add the areas under their keep/remove curves (``<job>/evaluation/scores.csv``)
as ``eval/<metric>/<method>`` columns."""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from ..attributions import get_method
from ..training.prior import Prior
from .table import BASELINE, EVAL_PREFIX

# Config keys that never define a setting: the seed and what follows from it, output paths,
# logging, thread counts, and callbacks that only observe the run.
IGNORED = ("seed", "data.seed", "paths.", "logger.", "hydra.", "trainer.default_root_dir",
           "trainer.enable_progress_bar", "trainer.enable_model_summary",
           "trainer.log_every_n_steps", "callbacks.attribution_share.", "callbacks.prior_cost.",
           "test", "optimized_metric", "threads", "prior.", "model.")


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


def _method_label(prior: Optional[dict]) -> str:
    """``method`` plus every setting of the job's prior that can tell runs apart: the method's
    hyperparameters as configured (``eg(k=1)``) and other ``prior.*`` keys that differ from
    :class:`~priors.Prior`'s defaults (``xg(target=pred)``)."""
    prior = prior or {}
    method = prior.get("method") or BASELINE
    if method == BASELINE:
        return BASELINE
    try:
        hparams, known = get_method(method).hparams, True
    except ValueError:  # an explanation loss, or a method this installation does not know
        from ..losses.registry import get_loss, is_loss
        hparams, known = (dict(get_loss(method).hparams), True) if is_loss(method) else ({}, False)
    defaults = {k: p.default for k, p in inspect.signature(Prior).parameters.items()}
    parts = []
    for key, value in prior.items():
        if key in ("_target_", "method", "penalty", "weight"):
            continue
        if key in defaults:
            if value != defaults[key]:
                parts.append(f"{key}={value}")
        elif key in hparams or not known:  # (old runs stored k for every method: not its own)
            parts.append(f"{key}={value}")
    return f"{method}({', '.join(parts)})" if parts else str(method)


def _model_label(model: dict) -> str:
    name = str(model.get("_target_", "?")).rsplit(".", 1)[-1]
    return f"{name}(bias=False)" if model.get("bias") is False else name


def collect(dirs: Iterable[str | Path]) -> pd.DataFrame:
    """One row per job: status, setting columns, ``seed``, every metric, seconds, error."""
    rows = []
    for info in map(_read_job, find_jobs(dirs)):
        cfg = info["config"]
        prior = cfg.get("prior") or {}
        method = _method_label(prior)
        row = {"job": info["job"], "status": info["status"],
               "model": _model_label(cfg.get("model") or {}),
               "method": method, "penalty": prior.get("penalty") if method != BASELINE else "-",
               "weight": float(prior.get("weight", np.nan)) if method != BASELINE else np.nan,
               "seed": cfg.get("seed"), "seconds": info["seconds"], "error": info["error"],
               "overrides": info["overrides"]}
        row.update({f"cfg:{k}": v for k, v in _flatten(cfg).items()})
        row.update(info["metrics"])
        rows.append(row)
    jobs = pd.DataFrame(rows)
    jobs["variant"] = _variants(jobs)
    return jobs


def _variants(jobs: pd.DataFrame) -> pd.Series:
    """``key=value`` of the config keys (not prior/model/seed/paths) that differ between jobs."""
    keys = [c for c in jobs.columns if c.startswith("cfg:")
            and not any(c[4:] == p or (p.endswith(".") and c[4:].startswith(p)) for p in IGNORED)]
    varying = [k for k in keys if jobs[k].astype(str).nunique(dropna=False) > 1]
    if not varying:
        return pd.Series("-", index=jobs.index)
    return jobs[varying].apply(lambda r: ", ".join(f"{k[4:]}={r[k]}" for k in varying), axis=1)
