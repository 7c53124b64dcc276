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
from ..runs.evaluation_record import evaluation_problem
from ..runs.lock import is_replaced
from ..runs.result import read_result
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
        # Folders moved aside by overwrite=true are no part of the sweep.
        found = sorted({p.parent for p in d.rglob(".hydra")
                        if p.is_dir() and not is_replaced(p.parent)})
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


def _read_scores(job: Path, result: dict, notes: List[str]) -> Dict[str, float]:
    """``eval/<metric>/<method>`` areas of ``<job>/evaluation/scores.csv``, only when the
    evaluation finished and scored the job's current model (``evaluation.json``); a damaged
    file or a non-numeric area is noted and left out, never read as a number."""
    scores = job / "evaluation" / "scores.csv"
    if not scores.is_file():
        return {}
    problem = evaluation_problem(job / "evaluation", result)
    if problem:
        notes.append(f"evaluation ignored: {problem}")
        return {}
    try:
        frame = pd.read_csv(scores)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        notes.append(f"evaluation/scores.csv unreadable ({type(err).__name__}: {err})")
        return {}
    if not {"metric", "method", "auc"} <= set(frame.columns):
        notes.append("evaluation/scores.csv lacks the columns metric, method, auc")
        return {}
    out = {}
    for row in frame.itertuples():
        value = pd.to_numeric(pd.Series([row.auc]), errors="coerce").iloc[0]
        if pd.isna(value):
            notes.append(f"evaluation/scores.csv: {row.metric}/{row.method} area {row.auc!r} "
                         "is not a number (a cut line?); left out")
            continue
        out[f"{EVAL_PREFIX}{row.metric}/{row.method}"] = float(value)
    return out


def _read_job(job: Path) -> dict:
    read = read_result(job)
    result, status = read.result, read.status
    notes = [p for p in read.problems if not p.startswith("no result.json")]
    if status == "running":
        status = "unfinished"
    config = result.get("config")
    if not isinstance(config, dict):
        config = None
    if config is None and (job / ".hydra" / "config.yaml").is_file():
        config = _load_config(job)
    overrides = []
    if (job / ".hydra" / "overrides.yaml").is_file():
        overrides = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "overrides.yaml"))
    error = str(result.get("error") or "").strip().splitlines()
    metrics = dict(result.get("metrics") or {})
    metrics.update(_read_scores(job, result, notes))
    last = error[-1] if error else ""
    return {"job": str(job), "status": status, "config": config or {},
            "overrides": " ".join(map(str, overrides)), "metrics": metrics,
            "seconds": result.get("seconds", np.nan),
            "error": "; ".join([last, *notes]) if last else "; ".join(notes)}


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
    found = find_jobs(dirs)
    for info in [*map(_read_job, found), *not_started(dirs, found)]:
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
    started = jobs["status"] != "not started"  # no config: would make every key "vary"
    jobs["variant"] = "-"
    if started.any():
        jobs.loc[started, "variant"] = _variants(jobs[started])
    return jobs


def _variants(jobs: pd.DataFrame) -> pd.Series:
    """``key=value`` of the config keys (not prior/model/seed/paths) that differ between jobs."""
    keys = [c for c in jobs.columns if c.startswith("cfg:")
            and not any(c[4:] == p or (p.endswith(".") and c[4:].startswith(p)) for p in IGNORED)]
    varying = [k for k in keys if jobs[k].astype(str).nunique(dropna=False) > 1]
    if not varying:
        return pd.Series("-", index=jobs.index)
    return jobs[varying].apply(lambda r: ", ".join(f"{k[4:]}={r[k]}" for k in varying), axis=1)


def not_started(dirs: Iterable[str | Path], jobs: Iterable[str]) -> List[dict]:
    """Rows (status ``not started``) for the jobs a sweep planned (``planned_jobs.json``,
    written when the sweep began) that have no folder with a ``.hydra/`` of their own."""
    seen = {str(Path(j)) for j in jobs}
    rows = []
    for d in map(Path, dirs):
        for plan_file in sorted(d.rglob("planned_jobs.json")):
            try:
                plan = json.loads(plan_file.read_text())
            except (OSError, ValueError):
                continue
            if plan.get("subdir") != "${hydra.job.num}":
                continue  # job folders named otherwise: cannot be matched to the plan
            for job in plan.get("jobs", []):
                folder = plan_file.parent / str(job["num"])
                if str(folder) not in seen and not (folder / ".hydra").is_dir():
                    rows.append({"job": str(folder), "status": "not started", "config": {},
                                 "overrides": " ".join(map(str, job["overrides"])),
                                 "metrics": {}, "seconds": np.nan,
                                 "error": "planned by the sweep, never started"})
    return rows
