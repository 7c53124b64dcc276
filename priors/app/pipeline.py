"""The training pipeline behind ``train.py``: instantiate from a Hydra config, fit, test."""
from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List

import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ..lightning.module import PriorModule
from ..runs.build import (AUTO_SIZES, WEIGHTS_FILE, build_datamodule,  # noqa: F401 (public here too)
                          build_model)
from .resolvers import register_resolvers

register_resolvers()  # the configs this pipeline instantiates use them

log = logging.getLogger(__name__)

def _instantiate_dict(cfg: DictConfig | None) -> List[Any]:
    if not cfg:
        return []
    return [instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]


def build(cfg: DictConfig):
    """Instantiate ``(datamodule, module, trainer)`` from a composed config."""
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)
    prior = instantiate(cfg.prior) if cfg.get("prior") else None
    num_classes, task = datamodule.num_classes, datamodule.task
    module = PriorModule(
        model=model,
        prior=prior,
        task=task,
        num_classes=num_classes if task == "multiclass" else None,
        optimizer=instantiate(cfg.optimizer) if cfg.get("optimizer") else None,
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        # Optional PriorModule settings (channels_last, compile) from a `module:` config node.
        **(OmegaConf.to_container(cfg.module, resolve=True) if cfg.get("module") else {}),
    )
    callbacks = _instantiate_dict(cfg.get("callbacks"))
    extra = {}
    if any(isinstance(cb, ModelCheckpoint) for cb in callbacks):
        extra["enable_checkpointing"] = True  # callbacks=checkpoint turns checkpointing on
    trainer = instantiate(cfg.trainer, callbacks=callbacks,
                          logger=_instantiate_dict(cfg.get("logger")) or False, **extra)
    return datamodule, module, trainer




def run(cfg: DictConfig) -> Dict[str, float]:
    """Fit and test; write ``result.json`` (status, metrics, config) into the output dir.

    After fit, the model's weights (those :class:`~priors.callbacks.KeepBestWeights` restored,
    when it is configured) are saved as ``model.pt`` (``model.state_dict()``) beside
    ``result.json``, so that ``evaluate.py run=<dir>`` can evaluate the run later.

    A failing run still writes ``result.json`` with ``status: failed`` and the error, so sweep
    reports list it instead of silently dropping it; the exception is re-raised.
    """
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result: Dict[str, Any] = {"status": "running", "config": OmegaConf.to_container(cfg, resolve=True)}
    start = time.time()
    try:
        datamodule, module, trainer = build(cfg)
        log.info("prior: %s | model: %s", module.prior, type(module.model).__name__)
        # ckpt_path: a checkpoint file or "last" (the run dir's checkpoints/last.ckpt; a fresh
        # start, with a warning, when there is none yet): resumes an interrupted run exactly.
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        # KeepBestWeights loads the best weights in on_fit_end: these are the selected ones.
        if rank_zero_only.rank == 0:
            torch.save(module.model.state_dict(), out_dir / WEIGHTS_FILE)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        for cb in trainer.callbacks:
            # Callbacks report end-of-fit numbers (best score, cost summary) through summary().
            if callable(getattr(cb, "summary", None)):
                metrics.update({k: float(v) for k, v in cb.summary().items()})
        if cfg.get("test", True):
            tested = trainer.test(module, datamodule=datamodule, verbose=False)
            metrics.update({k: float(v) for k, v in (tested[0] if tested else {}).items()})
        result.update(status="ok", metrics=metrics)
    except BaseException as err:
        result.update(status="failed", error=f"{type(err).__name__}: {err}",
                      traceback=traceback.format_exc())
        raise
    finally:
        result["seconds"] = round(time.time() - start, 3)
        if rank_zero_only.rank == 0:  # under DDP every rank runs this; one writes
            (out_dir / "result.json").write_text(json.dumps(result, indent=2, default=str))
    summary = ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())
                        if k.startswith(("test/", "val/auroc")))
    log.info("results: %s", summary)
    print(f"[priors] {summary}")
    return metrics


def run_banner(cfg: DictConfig) -> None:
    """The last lines of a training command: where the run went (``evaluate.py run=`` takes it)."""
    out = Path(cfg.paths.output_dir)
    print(f"[priors] output directory: {out}")
    print(f"[priors] result: {out / 'result.json'}")
