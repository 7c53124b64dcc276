"""Off-the-record replays of a training step, with and without the prior, for timing."""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional

import pytorch_lightning as pl
import torch
from torch import Tensor

from ..module import PriorModule
from .attribution_prior import AttributionPrior
from .state_snapshot import StateSnapshot, no_logging, swap_attribute

BaselineStep = Callable[[pl.LightningModule, Any, int], Any]


class Replay(NamedTuple):
    ms: float
    loss: Tensor
    peak_mb: Optional[float]


def loss_of(out: Any) -> Optional[Tensor]:
    """The loss a ``training_step`` returned (a tensor or a dict's ``"loss"``), else ``None``."""
    if isinstance(out, Tensor):
        return out
    if isinstance(out, dict) and isinstance(out.get("loss"), Tensor):
        return out["loss"]
    return None


class StepReplayer:
    """Runs ``training_step`` + ``loss.backward()`` outside Lightning's loop and undoes it.

    ``regularized=False`` removes the prior: ``baseline_step`` if given, else the attached
    :class:`AttributionPrior` callbacks are disabled, else a :class:`PriorModule`'s prior is
    set to ``None`` for the replay. Gradients and everything :class:`StateSnapshot` holds are
    restored afterwards; the optimizer is never touched and logging is silenced.
    """

    def __init__(self, baseline_step: Optional[BaselineStep], priors: List[AttributionPrior],
                 device: torch.device):
        self.baseline_step, self.priors = baseline_step, priors
        self.device = device
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def unregularized(self, pl_module: pl.LightningModule) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        if self.baseline_step is None:
            for cb in self.priors:
                stack.enter_context(cb.disabled())
            if not self.priors and isinstance(pl_module, PriorModule):
                stack.enter_context(swap_attribute(pl_module, "prior", None))
        return stack

    def replay(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
               batch_idx: int, regularized: bool) -> Optional[Replay]:
        """One forward+backward of ``batch``, with or without the prior, leaving no trace."""
        params = list(pl_module.parameters())
        grads = [p.grad for p in params]
        snapshot = StateSnapshot(pl_module, [cb._sampler for cb in self.priors])
        custom = self.baseline_step is not None and not regularized
        try:
            for p in params:
                p.grad = None
            with contextlib.ExitStack() as stack:
                stack.enter_context(torch.enable_grad())
                stack.enter_context(no_logging(pl_module))
                if not regularized:
                    stack.enter_context(self.unregularized(pl_module))
                stack.enter_context(trainer.precision_plugin.train_step_context())
                self.sync()
                if self.cuda:
                    torch.cuda.reset_peak_memory_stats(self.device)
                start = time.perf_counter()
                out = (self.baseline_step(pl_module, batch, batch_idx) if custom
                       else pl_module.training_step(batch, batch_idx))
                loss = loss_of(out)
                if loss is None:  # a step that skips this batch: nothing to measure
                    return None
                loss.backward()
                self.sync()
                ms = (time.perf_counter() - start) * 1e3
                peak = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.cuda else None
        finally:
            for p, g in zip(params, grads):
                p.grad = g
            snapshot.restore()
        return Replay(ms, loss.detach(), peak)

    def replay_both(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                    batch_idx: int, reverse: bool, rounds: int) -> Optional[Dict[str, Replay]]:
        """Baseline and prior replays of one batch; the last of ``rounds`` rounds is kept."""
        # Alternate the order so that neither replay always runs with the colder caches.
        kinds = ["baseline", "prior"]
        if reverse:
            kinds.reverse()
        for _ in range(rounds):
            replays = {kind: self.replay(trainer, pl_module, batch, batch_idx, kind == "prior")
                       for kind in kinds}
        return None if None in replays.values() else replays
