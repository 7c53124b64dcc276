"""Save the fitted network's weights so that a run can be evaluated later (ROAR, sanity checks)."""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch


class SaveModelWeights(pl.Callback):
    """At the end of fit, write ``pl_module.model.state_dict()`` to ``path`` (``model.pt``).

    List it after :class:`~priors.callbacks.KeepBestWeights` (as the configs do) so that the
    selected weights, restored by that callback at the end of fit, are the ones saved.
    """

    def __init__(self, path: str = "model.pt"):
        self.path = Path(path)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        network = getattr(pl_module, "model", pl_module)
        torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, self.path)
