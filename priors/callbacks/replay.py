"""Off-the-record replays of a training step, with and without the prior, for timing."""
from __future__ import annotations

import contextlib
import inspect
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional

import pytorch_lightning as pl
import torch
from lightning_utilities.core.apply_func import apply_to_collection
from torch import Tensor

from ..lightning.module import PriorModule
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


def copy_batch(batch: Any) -> Any:
    """A copy of every tensor in ``batch`` (tuples, lists, dicts, dataclasses): a replayed step
    that modifies its batch in place must not change the batch the real step then sees."""
    return apply_to_collection(batch, Tensor, lambda t: t.clone())


def takes_batch_idx(step: Callable) -> bool:
    """Whether ``training_step`` accepts ``batch_idx`` (Lightning allows ``step(batch)``)."""
    try:
        params = list(inspect.signature(step).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind in (p.VAR_POSITIONAL,) for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.name == "batch_idx" for p in params)


class StepReplayer:
    """Runs ``training_step`` + the module's ``backward`` outside Lightning's loop and undoes it.

    ``regularized=False`` removes the prior: ``baseline_step`` if given, else the attached
    :class:`AttributionPrior` callbacks are disabled, else a :class:`PriorModule`'s prior is
    set to ``None`` for the replay. Gradients and everything :class:`StateSnapshot` holds are
    restored afterwards; the optimizer is never touched and logging is silenced. Each replay
    runs on its own copy of the batch.
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
        batch = copy_batch(batch)  # before the timer starts
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
                if custom:
                    out = self.baseline_step(pl_module, batch, batch_idx)
                elif takes_batch_idx(pl_module.training_step):
                    out = pl_module.training_step(batch, batch_idx)
                else:
                    out = pl_module.training_step(batch)
                loss = loss_of(out)
                if loss is None:  # a step that skips this batch: nothing to measure
                    return None
                pl_module.backward(loss)  # the module's own backward, as in the real step
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
