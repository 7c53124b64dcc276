"""Build a run's datamodule and model from its config: shared by training and evaluation.

The training pipeline (:mod:`priors.pipeline`) builds them from the composed config before
fitting; evaluation (:func:`priors.evaluation.load_run`) rebuilds them from the config a run
saved, then loads :data:`WEIGHTS_FILE`. One definition keeps the two identical (same seeding,
same ``auto`` sizes), so an evaluated model is the trained model.
"""
from __future__ import annotations

from typing import Any, Dict

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from ..data.contract import check_datamodule

# The selected weights of a run (the model's state_dict), next to result.json.
WEIGHTS_FILE = "model.pt"

# Model config keys filled from the datamodule when set to "auto".
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
