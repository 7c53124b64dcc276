"""Lightning module training any ``nn.Module`` with a task loss plus an attribution prior."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Tuple

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (BinaryAccuracy, BinaryAUROC, MulticlassAccuracy,
                                         MulticlassAUROC)

from ..attributions import ReferenceSampler
from ..core.batch import parse_batch
from ..core.checks import (check_input_size, check_labels, explain_inplace,
                           nonfinite_message)
from ..training.prior import Prior, check_inputs
from .references import auto_references
from .resume_state import ExactResume
from ..training.step import backward_to_parameters, prior_step_loss
from ..core.outputs import logits_model, select_logits
from ..core.task import TASKS, task_loss  # noqa: F401 (task_loss: public here too)
from ..training.xdnn import assert_structurally_homogeneous

ON_NONFINITE = ("raise", "skip")


def unpack_batch(batch: Any, batch_fn: Optional[Callable] = None) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """``(x, y)`` or ``(x, y, mask)``; a dict with keys ``x``, ``y`` and optional ``mask``."""
    return tuple(parse_batch(batch, batch_fn, who="PriorModule"))  # type: ignore[return-value]


class PriorModule(ExactResume, pl.LightningModule):
    """Trains ``model`` on ``task_loss + prior.weight * prior.penalty``.

    Logs ``train/loss``, ``train/task_loss``, ``train/prior`` (unweighted penalty),
    ``train/prior_weighted`` and ``{val,test}/{loss,auroc,acc}``. For X-Gradient, gradient and RRR
    priors the task loss and the attribution share one forward pass (inputs require grad, one
    forward, one ``autograd.grad(create_graph=True)``, one backward). Expected Gradients draws
    its references from the datamodule's ``train_dataset`` (or the train dataloader's dataset)
    through a :class:`~priors.attributions.ReferenceSampler`, without copying the data; the drawn
    references pass through the same batch hooks as training batches (``on_before_batch_transfer``,
    device transfer, ``on_after_batch_transfer``), so they live in the input space of ``x``
    (references you set yourself, ``module.references = ...``, are used as given). The prior's
    own forwards (EG, IG, SmoothGrad) leave BatchNorm running statistics untouched.

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
        on_nonfinite: a NaN/inf training loss (task loss or penalty) ``"raise"`` s
            ``FloatingPointError`` naming the step, the attribution method and the penalty's
            value (default), or with ``"skip"`` the batch is skipped (no update) and counted in
            ``train/skipped_batches`` (one process only: refused under DDP). The check reads
            the loss on the host once per step.
        output: which of the model's outputs are the logits when it returns a tuple, dict or
            Hugging Face ``ModelOutput``: a key or an index (``None``: ``"logits"``, else the
            only tensor of a dict, else the first element; :mod:`priors.core.outputs`).

    Checkpoints (Lightning's ``ModelCheckpoint``) also hold what a bit-identical resume needs:
    the global RNG states (torch, NumPy, Python), the training dataloader's generator, the
    Expected Gradients reference sampler's generator and the skipped-batch count. Resume
    exactly from checkpoints taken at epoch ends (mid-epoch, Lightning cannot resume a
    plain DataLoader's position and warns).

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
        on_nonfinite: str = "raise",
        output=None,
    ):
        super().__init__()
        if on_nonfinite not in ON_NONFINITE:
            raise ValueError(f"on_nonfinite must be one of {ON_NONFINITE}, got {on_nonfinite!r}")
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
            assert_structurally_homogeneous(model, f"The {prior.method} prior",
                                            prior.trusted_layers)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if compile:
            model.compile()  # in place: parameter names and state_dict keys stay unchanged
        self.model = model
        # Which output are the logits (a key of a dict / ModelOutput, an index of a tuple;
        # None: priors.core.outputs' default rule). The wrapper is not a submodule, so the
        # state_dict keys stay the model's.
        self.output = output
        self._logits_model = (logits_model(model, output),)
        self.channels_last = channels_last
        self.prior = prior
        self.task = task
        self.num_classes = num_classes
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.lr = lr
        self.on_nonfinite = on_nonfinite
        self.skipped_batches = 0
        self.references: Optional[Callable[[int], Tensor]] = None
        self._auto_references = False
        self._sizes_checked = False
        self._step_loss: Optional[Any] = None  # this step's StepLoss, until its backward
        self._restored: Dict[str, Any] = {}
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

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.on_nonfinite == "skip" and self.trainer.world_size > 1:
            # A rank that skips its backward would leave the others waiting in the all-reduce.
            raise ValueError("on_nonfinite='skip' works in one process only; under DDP "
                             f"(world_size={self.trainer.world_size}) use on_nonfinite='raise'")

    def forward(self, x: Tensor) -> Tensor:
        return select_logits(self.model(x), self.output)

    def on_train_start(self) -> None:
        self._restore_loader_generators()
        # References set by the user are kept; ours are redrawn from each fit's training data.
        if self.prior is None or not self.prior.needs_references:
            return
        if self.references is not None and not self._auto_references:
            return
        self.references = auto_references(self.trainer, self, None, self.global_rank)
        self._auto_references = self.references is not None
        state = self._restored.pop("reference_sampler", None)
        if state is not None and isinstance(self.references, ReferenceSampler):
            self.references.load_state_dict(state)

    def _memory_format(self, x: Tensor) -> Tensor:
        if self.channels_last and isinstance(x, Tensor) and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _checked_batch(self, batch: Any, stage: str) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        x, y, mask = unpack_batch(batch)
        check_inputs(x, f"{stage} inputs")
        # A wrong feature count: say so, not a matrix-shape error (token batches: no such size).
        if not self._sizes_checked and isinstance(x, Tensor):
            check_input_size(self.model, x, f"{stage} inputs")
            self._sizes_checked = True
        if len(y) != len(x):
            raise ValueError(f"{stage} batch: {len(x)} inputs but {len(y)} labels")
        check_labels(y, self.task, self.num_classes, f"{stage} labels")
        return x, y, mask

    def training_step(self, batch: Any, batch_idx: int) -> Optional[Tensor]:
        x, y, mask = self._checked_batch(batch, "training")
        x = self._memory_format(x)
        if self.prior is not None and self.prior.needs_references and self.references is None:
            raise RuntimeError("Expected Gradients prior: no training dataset to draw references "
                               "from; set module.references = ReferenceSampler(dataset)")
        method = self.prior.method if self.prior is not None else "none"
        with explain_inplace(f"PriorModule ({method} prior)"):
            step = prior_step_loss(self._logits_model[0], self.prior, x, y, self.task, mask,
                                   self.references, step=self.global_step, check_labels=False,
                                   check_inputs=False)  # _checked_batch validated the batch
        penalty = step.prior.penalty if step.prior is not None else None
        if not self._finite(step.loss, step.task_loss, penalty):
            return None
        logs = {"train/loss": step.loss, "train/task_loss": step.task_loss}
        if step.prior is not None:
            logs.update({"train/prior": step.prior.penalty,
                         "train/prior_weighted": step.prior.weighted})
        self.log_dict(logs, on_step=True, on_epoch=True, batch_size=len(x))
        self._step_loss = step if step.prior is not None else None  # for backward's split
        return step.loss

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        # Restricted to the parameters, penalty and task loss back-propagated one after the
        # other when that is exact (see priors.training.step.backward_to_parameters for why).
        step, self._step_loss = self._step_loss, None  # never keep a graph past its backward
        if self.prior is None or "inputs" in kwargs:
            super().backward(loss, *args, **kwargs)
            return
        backward_to_parameters(loss, [p for p in self.parameters() if p.requires_grad],
                               *args, step=step, **kwargs)

    def _finite(self, loss: Tensor, tl: Tensor, penalty: Optional[Tensor]) -> bool:
        """``True`` if the loss is finite; else raise, or count the batch as skipped."""
        if bool(torch.isfinite(loss)):
            return True
        method = self.prior.method if self.prior is not None else "none"
        name = self.prior.penalty_name if self.prior is not None else "none"
        message = nonfinite_message(self.global_step, method, name, loss, tl, penalty)
        if self.on_nonfinite == "raise":
            raise FloatingPointError(message + "; lower the learning rate or the prior weight, "
                                     "check the data, or pass on_nonfinite='skip'")
        self.skipped_batches += 1
        self.log("train/skipped_batches", float(self.skipped_batches), on_step=True,
                 on_epoch=False, batch_size=1, reduce_fx="max")
        return False

    def _eval_step(self, batch: Any, stage: str) -> None:
        x, y, _ = self._checked_batch(batch, stage)
        outputs = select_logits(self.model(self._memory_format(x)), self.output)
        loss = task_loss(outputs, y, self.task, check=False)
        self.metrics[stage].update(*self._scores_labels(outputs, y))
        # sync_dist: under DDP the logged loss is the mean over ranks, like the metrics.
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=len(x), sync_dist=True)

    def _scores_labels(self, outputs: Tensor, y: Tensor) -> Tuple[Tensor, Tensor]:
        if self.task == "binary":
            # Not a float32 sigmoid, which ties above logit ~16.6 and lowers the AUROC: a
            # strictly increasing float64 map into (0, 1), 0.5 at logit 0 (so BinaryAccuracy's
            # threshold is unchanged), distinct up to |logit| ~ 1e16.
            return 0.5 + torch.atan(outputs.reshape(-1).double()) / math.pi, y.long()
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
                outputs = select_logits(self.model(self._memory_format(x)), self.output)
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
