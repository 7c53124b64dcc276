"""The training pipeline behind ``train.py``: instantiate from a Hydra config, fit, test."""
from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from .data.contract import check_datamodule
from .module import PriorModule

log = logging.getLogger(__name__)

# Model config keys that train.py fills from the datamodule when set to "auto".
AUTO_SIZES = {
    "in_features": lambda dm: dm.num_features,
    "out_features": lambda dm: dm.num_classes,
    "num_classes": lambda dm: dm.num_classes,
    "in_channels": lambda dm: getattr(dm, "in_channels", 3),
    # Text classifiers (conf/model/hf_bert_tiny.yaml): the tokenizer's sizes and ids.
    "vocab_size": lambda dm: dm.vocab_size,
    "max_length": lambda dm: dm.num_features,
    "pad_token_id": lambda dm: dm.pad_token_id,
    "mask_token_id": lambda dm: dm.mask_token_id,
}


def _auto_sizes(model_cfg: DictConfig, datamodule: Any) -> Dict[str, Any]:
    sizes = {}
    for key, getter in AUTO_SIZES.items():
        if model_cfg.get(key) == "auto":
            try:
                sizes[key] = getter(datamodule)
            except AttributeError as err:
                raise ValueError(f"model.{key}=auto but the datamodule has no such size: {err}")
    return sizes


def _instantiate_dict(cfg: DictConfig | None) -> List[Any]:
    if not cfg:
        return []
    return [instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]


def build_datamodule(cfg: DictConfig) -> Any:
    """The config's datamodule, seeded, prepared and set up for fitting."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    # What the rest of the pipeline reads from the datamodule, checked once with a clear error.
    check_datamodule(datamodule, need_test=bool(cfg.get("test", True)))
    return datamodule


def build_model(cfg: DictConfig, datamodule: Any) -> torch.nn.Module:
    """The config's model with its ``auto`` sizes read from ``datamodule``."""
    # Seed again so the initial weights depend on the seed only, not on data loading.
    pl.seed_everything(cfg.seed, workers=True)
    return instantiate(cfg.model, **_auto_sizes(cfg.model, datamodule))


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


# The selected weights of a run (the model's state_dict), next to result.json.
WEIGHTS_FILE = "model.pt"


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
