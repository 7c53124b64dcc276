"""Keep the weights of the best validation epoch in memory and restore them after fit."""
from __future__ import annotations

import math
from typing import Dict, Optional

import pytorch_lightning as pl
import torch


class KeepBestWeights(pl.Callback):
    """Model selection without checkpoint files: after every validation, if ``monitor``
    improved, keep a copy of the module's ``state_dict``; at the end of fit, load the best one
    so that ``trainer.test`` scores the selected weights.

    With ``score_initial=True`` the initial weights are scored too (a full validation pass
    before the first update), as in the small-data protocol of Erion et al., Nature MI 2021,
    where the best step may be the very first one. The value is read from
    ``trainer.callback_metrics`` or, during that initial pass, from the module's
    ``last_val_metrics`` dict (set by :class:`~priors.PriorModule`).

    Logs ``{monitor}_best`` and ``best_step``. Its state (the best score, step and weights) is
    saved in Lightning checkpoints, so a resumed run selects as the uninterrupted one would.
    """

    def __init__(self, monitor: str = "val/auroc", mode: str = "max", score_initial: bool = False):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.score_initial = score_initial
        self.best_score: Optional[float] = None
        self.best_step: Optional[int] = None
        self.best_state: Optional[Dict[str, torch.Tensor]] = None
        self._resumed = False

    def _value(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Optional[float]:
        value = getattr(pl_module, "last_val_metrics", {}).get(self.monitor)
        if value is None:
            value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return None
        return float(value)

    def _consider(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = self._value(trainer, pl_module)
        if value is None:
            raise KeyError(f"KeepBestWeights: metric {self.monitor!r} was not logged during "
                           f"validation; logged: {sorted(trainer.callback_metrics)}")
        if math.isnan(value):
            return
        better = (self.best_score is None or
                  (value > self.best_score if self.mode == "max" else value < self.best_score))
        if better:
            self.best_score = value
            self.best_step = trainer.global_step
            self.best_state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._resumed:  # restored from a checkpoint: keep the best so far
            self._resumed = False
            return
        self.best_score, self.best_step, self.best_state = None, None, None
        if not self.score_initial:
            return
        if not hasattr(pl_module, "score"):
            raise TypeError("KeepBestWeights(score_initial=True) needs a module with a "
                            "score(dataloader, stage) method such as priors.PriorModule")
        loader = (trainer.datamodule.val_dataloader() if trainer.datamodule is not None
                  else trainer.val_dataloaders)
        pl_module.last_val_metrics = pl_module.score(loader, "val")
        self._consider(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self._consider(trainer, pl_module)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.best_state is not None:
            pl_module.load_state_dict(self.best_state)

    def summary(self) -> Dict[str, float]:
        """End-of-fit numbers merged into ``result.json`` by the training pipeline."""
        if self.best_score is None:
            return {}
        return {f"{self.monitor}_best": self.best_score, "best_step": float(self.best_step)}

    def state_dict(self) -> dict:
        return {"best_score": self.best_score, "best_step": self.best_step,
                "best_state": self.best_state}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best_score = state_dict.get("best_score")
        self.best_step = state_dict.get("best_step")
        self.best_state = state_dict.get("best_state")
        self._resumed = True
