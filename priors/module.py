"""Lightning module training any ``nn.Module`` with a task loss plus an attribution prior."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (BinaryAccuracy, BinaryAUROC, MulticlassAccuracy,
                                         MulticlassAUROC)

from .attributions import ReferenceSampler
from .batch import parse_batch
from .checks import check_finite
from .prior import Prior
from .step import backward_to_parameters, prior_step_loss
from .task import TASKS, task_loss  # noqa: F401 (task_loss: public here too)
from .xdnn import assert_structurally_homogeneous



def unpack_batch(batch: Any, batch_fn: Optional[Callable] = None) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """``(x, y)`` or ``(x, y, mask)``; a dict with keys ``x``, ``y`` and optional ``mask``."""
    return tuple(parse_batch(batch, batch_fn, who="PriorModule"))  # type: ignore[return-value]


class PriorModule(pl.LightningModule):
    """Trains ``model`` on ``task_loss + prior.weight * prior.penalty``.

    Logs ``train/loss``, ``train/task_loss``, ``train/prior`` (unweighted penalty),
    ``train/prior_weighted`` and ``{val,test}/{loss,auroc,acc}``. For X-Gradient, gradient and RRR
    priors the task loss and the attribution share one forward pass (inputs require grad, one
    forward, one ``autograd.grad(create_graph=True)``, one backward). Expected Gradients draws
    its references from the datamodule's ``train_dataset`` (or the train dataloader's dataset)
    through a :class:`~priors.attributions.ReferenceSampler`, without copying the data.

    Args:
        model: any ``nn.Module`` mapping inputs to logits (``(B,)``/``(B, 1)`` for binary,
            ``(B, C)`` for multi-class).
        prior: a :class:`~priors.Prior`, or ``None`` for unregularized training.
        task: ``binary`` or ``multiclass``.
        num_classes: number of classes for ``multiclass``.
        optimizer: a partial ``params -> Optimizer`` (Hydra ``_partial_: true``); default Adam.
        scheduler: optional partial ``optimizer -> LRScheduler`` (stepped per epoch).
        lr: learning rate of the default Adam.
        channels_last: store the model's 4-D weights and convert 4-D input batches to the
            ``channels_last`` memory format (faster convolutions on recent GPUs, esp. with bf16).
        compile: ``torch.compile`` the model. Only without a prior: attribution priors back-
            propagate through a gradient (``create_graph=True``), and compiled graphs do not
            support this double backward, so ``compile=True`` with a prior raises ``ValueError``.

    Mixed precision (``Trainer(precision="bf16-mixed")``) works with every prior: the double
    backward runs under autocast; the X-Gradient homogeneity check runs once, in float32 and with
    power-of-two scales so that bf16 / TF32 rounding cannot make an X-DNN fail it.
    """

    def __init__(
        self,
        model: nn.Module,
        prior: Optional[Prior] = None,
        task: str = "binary",
        num_classes: Optional[int] = None,
        optimizer: Optional[Callable] = None,
        scheduler: Optional[Callable] = None,
        lr: float = 1e-3,
        channels_last: bool = False,
        compile: bool = False,
    ):
        super().__init__()
        if compile and prior is not None:
            raise ValueError(
                f"compile=True cannot be used with an attribution prior ({prior!r}): "
                "torch.compile does not support double backward (autograd.grad with "
                "create_graph=True), which the prior needs. Set compile=false (module.compile="
                "false in Hydra) or train without a prior."
            )
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
        if task == "multiclass" and (num_classes is None or num_classes < 2):
            raise ValueError("multiclass task needs num_classes >= 2")
        if prior is not None and not isinstance(prior, Prior):
            raise TypeError(f"prior must be a priors.Prior or None, got {type(prior).__name__}")
        if prior is not None and prior.requires_xdnn and prior.check_homogeneity:
            assert_structurally_homogeneous(model, f"The {prior.method} prior")
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if compile:
            model.compile()  # in place: parameter names and state_dict keys stay unchanged
        self.model = model
        self.channels_last = channels_last
        self.prior = prior
        self.task = task
        self.num_classes = num_classes
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.lr = lr
        self.references: Optional[Callable[[int], Tensor]] = None
        self._auto_references = False
        # num_classes is also a datamodule hparam in some datamodules: Lightning refuses duplicates.
        self.save_hyperparameters(ignore=["model", "prior", "optimizer", "scheduler", "num_classes"])
        self.metrics = nn.ModuleDict({stage: self._make_metrics(stage) for stage in ("val", "test")})
        self.last_val_metrics: Dict[str, float] = {}

    def _make_metrics(self, stage: str) -> MetricCollection:
        if self.task == "binary":
            metrics = {"auroc": BinaryAUROC(), "acc": BinaryAccuracy()}
        else:
            metrics = {"auroc": MulticlassAUROC(self.num_classes),
                       "acc": MulticlassAccuracy(self.num_classes, average="micro")}
        return MetricCollection(metrics, prefix=f"{stage}/")

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    @property
    def _trainable(self):
        return [p for p in self.parameters() if p.requires_grad]

    def on_train_start(self) -> None:
        # References set by the user are kept; ours are redrawn from each fit's training data.
        if self.prior is None or not self.prior.needs_references:
            return
        if self.references is not None and not self._auto_references:
            return
        dataset = getattr(self.trainer.datamodule, "train_dataset", None)
        if dataset is None:
            dataset = getattr(self.trainer.train_dataloader, "dataset", None)
        if dataset is not None:
            self.references = ReferenceSampler(dataset, seed=torch.initial_seed())
            self._auto_references = True

    def _memory_format(self, x: Tensor) -> Tensor:
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y, mask = unpack_batch(batch)
        x = self._memory_format(x)
        if self.prior is not None and self.prior.needs_references and self.references is None:
            raise RuntimeError("Expected Gradients prior: no training dataset to draw references "
                               "from; set module.references = ReferenceSampler(dataset)")
        if self.prior is None:  # (Prior.forward_inputs checks the inputs itself)
            check_finite(x, "training inputs")
        step = prior_step_loss(self.model, self.prior, x, y, self.task, mask, self.references)
        logs = {"train/loss": step.loss, "train/task_loss": step.task_loss}
        if step.prior is not None:
            logs.update({"train/prior": step.prior.penalty,
                         "train/prior_weighted": step.prior.weighted})
        self.log_dict(logs, on_step=True, on_epoch=True, batch_size=len(x))
        return step.loss

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        # With a shared forward the batch input is a leaf that requires grad; restricting the
        # backward to the parameters skips computing (and storing) a gradient nobody reads.
        if self.prior is None or "inputs" in kwargs:
            super().backward(loss, *args, **kwargs)
            return
        backward_to_parameters(loss, self._trainable, *args, **kwargs)

    def _eval_step(self, batch: Any, stage: str) -> None:
        x, y, _ = unpack_batch(batch)
        check_finite(x, f"{stage} inputs")
        outputs = self.model(self._memory_format(x))
        loss = task_loss(outputs, y, self.task)
        self.metrics[stage].update(*self._scores_labels(outputs, y))
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=len(x))

    def _scores_labels(self, outputs: Tensor, y: Tensor) -> Tuple[Tensor, Tensor]:
        if self.task == "binary":
            return torch.sigmoid(outputs.reshape(-1)), y.long()
        return torch.softmax(outputs, 1), y.long()

    def _eval_epoch_end(self, stage: str) -> Dict[str, float]:
        values = self.metrics[stage].compute()
        self.metrics[stage].reset()
        self.log_dict(values)
        return {k: float(v) for k, v in values.items()}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        # Kept (also during the sanity check) so KeepBestWeights can score the initial weights.
        self.last_val_metrics = self._eval_epoch_end("val")

    @torch.no_grad()
    def score(self, dataloader, stage: str = "val") -> Dict[str, float]:
        """Metrics of the current weights on ``dataloader``, outside the trainer's loops."""
        was_training = self.training
        self.eval()
        try:
            metrics = self.metrics[stage]
            metrics.reset()
            for batch in dataloader:
                x, y, _ = unpack_batch(batch)
                x, y = x.to(self.device), y.to(self.device)
                outputs = self.model(self._memory_format(x))
                metrics.update(*self._scores_labels(outputs, y))
            values = {k: float(v) for k, v in metrics.compute().items()}
            metrics.reset()
        finally:
            self.train(was_training)
        return values

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        opt = (self.optimizer_factory(params) if self.optimizer_factory
               else torch.optim.Adam(params, lr=self.lr))
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": self.scheduler_factory(opt)}
