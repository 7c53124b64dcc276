"""Log chosen evaluation metrics of the model's attributions every N epochs during training."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

import pytorch_lightning as pl
import torch
from torch import Tensor


class AttributionQuality(pl.Callback):
    """Every ``every_n_epochs`` validation epochs, score the attributions of the model being
    trained with registered metrics (:mod:`priors.evaluation.metrics`) on a fixed subset of
    the validation set, and log ``attr_quality/<metric>`` (also returned by :meth:`summary`
    at the end of fit, so a sweep's report shows whether a prior improved the explanations,
    not only the accuracy).

    Args:
        metrics: metric names or ``{name: hyperparameters}``, e.g.
            ``["relevance_mass_accuracy", "faithfulness_correlation"]``. Localisation metrics
            read the masks of the validation set (the third tensor of ``(x, y, mask)``
            batches, as Decoy-Digits has).
        method: a registered attribution method (default ``grad``) or ``{method: ..., **hp}``.
        every_n_epochs: how often (the last epoch is always scored).
        n_examples: validation examples scored (the first ones of a seeded permutation).
        target: ``label`` (explain the label) or ``pred``.
    """

    def __init__(self, metrics: Any = ("relevance_mass_accuracy",), method: Any = "grad",
                 every_n_epochs: int = 1, n_examples: int = 128, target: str = "label",
                 seed: int = 0):
        from ..evaluation.metrics import get_metric

        names = list(metrics) if not isinstance(metrics, Mapping) else list(metrics)
        for name in names:
            if get_metric(name).kind == "run":
                raise ValueError(f"AttributionQuality: {name!r} retrains a run; not a "
                                 "per-epoch metric")
        if int(every_n_epochs) < 1 or int(n_examples) < 1:
            raise ValueError("every_n_epochs and n_examples must be >= 1")
        if target not in ("label", "pred"):
            raise ValueError(f"target must be 'label' or 'pred', got {target!r}")
        self.metrics = dict(metrics) if isinstance(metrics, Mapping) else {m: {} for m in names}
        self.method = method
        self.every_n_epochs, self.n_examples = int(every_n_epochs), int(n_examples)
        self.target, self.seed = target, int(seed)
        self._data: Optional[tuple] = None
        self.history: list = []

    def _subset(self, trainer: pl.Trainer) -> tuple:
        if self._data is None:
            dataset = getattr(trainer.datamodule, "val_dataset", None)
            tensors = getattr(dataset, "tensors", None)
            if tensors is None:
                raise ValueError("AttributionQuality needs a datamodule whose val_dataset is a "
                                 "TensorDataset (x, y[, mask])")
            gen = torch.Generator().manual_seed(self.seed)
            idx = torch.randperm(len(tensors[0]), generator=gen)[: self.n_examples]
            x, y = tensors[0][idx], tensors[1][idx]
            mask = tensors[2][idx] if len(tensors) > 2 else None
            self._data = (x, y, mask)
        return self._data

    def _due(self, trainer: pl.Trainer) -> bool:
        epoch = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and epoch >= trainer.max_epochs
        return not trainer.sanity_checking and (epoch % self.every_n_epochs == 0 or last)

    def score(self, model: torch.nn.Module, x: Tensor, y: Tensor,
              mask: Optional[Tensor]) -> Dict[str, float]:
        """``{attr_quality/<metric>: value}`` for ``model`` on ``(x, y, mask)``."""
        from ..evaluation import evaluate

        device = next(model.parameters()).device
        x, y = x.to(device), y.to(device)
        target: Any = y.long() if self.target == "label" and y.dim() == 1 else "pred"
        was_training = model.training
        model.eval()
        try:
            # Validation runs under inference mode / no_grad; the methods need gradients. The
            # RNG is forked so that training's random stream stays untouched.
            with torch.inference_mode(False), torch.enable_grad(), \
                    torch.random.fork_rng(devices=[]):
                frame = evaluate(model, x, target, methods={"m": self.method},
                                 metrics=self.metrics, masks=mask, labels=y,
                                 seed=self.seed)
        finally:
            model.train(was_training)
        return {f"attr_quality/{row.metric}": float(row.value) for row in frame.itertuples()}

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule
                                ) -> None:
        if not self._due(trainer):
            return
        model = getattr(pl_module, "model", pl_module)
        values = self.score(model, *self._subset(trainer))
        self.history.append({"epoch": trainer.current_epoch, **values})
        for key, value in values.items():
            pl_module.log(key, value, on_epoch=True, batch_size=self.n_examples)

    def summary(self) -> Dict[str, float]:
        """The last scored values (``{}`` before the first)."""
        if not self.history:
            return {}
        return {k: v for k, v in self.history[-1].items() if k != "epoch"}


__all__: Sequence[str] = ("AttributionQuality",)
