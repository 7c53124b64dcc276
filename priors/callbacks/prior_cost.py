"""Per-step cost of an attribution prior, measured against an unregularized step in the same run."""
from __future__ import annotations

import math
import statistics
import time
from typing import Any, Dict, List, Optional, Tuple, Union

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor

from ..core.batch import resolve_callable
from ..lightning.module import PriorModule
from .attribution_prior import AttributionPrior
from .memory import max_rss_mb, rss_mb
from .replay import BaselineStep, Replay, StepReplayer, loss_of


class PriorCostMonitor(pl.Callback):
    """Logs what an attribution prior costs per training step, against the same step without it.

    Works on any LightningModule with automatic optimization. On measured steps (every
    ``every_n_steps``, default the trainer's ``log_every_n_steps`` so that they are the steps
    Lightning writes to the loggers, plus the ``first_steps`` steps after ``warmup_steps``) it
    replays the step twice just before the real one, on the same batch and weights: once
    *unregularized* (the baseline) and once as it is, with the prior; each replay is
    ``training_step`` + ``loss.backward()``, timed the same way, its gradients thrown away.
    The ratio of the two is the prior's cost, like for like: the real step, timed by
    Lightning's hooks, also holds Lightning's own per-step bookkeeping (the optimizer closure,
    ``self.log`` processing, hooks: about a millisecond on a CPU), which would inflate a ratio
    of the real step over a bare baseline for small models; it is logged as ``overhead_ms``.
    The two replays alternate in order and the first measurement is preceded by an untimed
    warm-up of both.

    Each replay restores what it touched: gradients, the torch (CPU and CUDA), Python and
    NumPy global RNGs, the ``torch.Generator`` objects held by the module's attributes (or their
    ``.generator``, such as the Expected Gradients reference sampler) and by AttributionPrior
    callbacks, module buffers (BatchNorm statistics) and torchmetrics states; it never
    touches the optimizer, and the module's ``self.log`` calls are silenced. A run with the
    monitor therefore ends with the same weights as one without (bit-identical on CPU).

    What "unregularized" means, in this order: ``baseline_step(pl_module, batch, batch_idx)``
    if given (it returns the loss; use it when your step calls a prior functionally); else, if
    an :class:`AttributionPrior` callback is attached, the step with that callback disabled;
    else, for a :class:`~priors.PriorModule`, its step with ``prior=None``; otherwise the
    module's own step (then there is no prior to remove and the ratio only shows measurement
    noise; a warning says so).

    Logged through ``pl_module.log`` with ``log_prefix`` (default ``prior_cost/``), on the
    steps Lightning writes (``on_step``):

    - ``step_ms``: the real step, from ``on_train_batch_start`` to ``on_after_backward``
      (forward, prior, backward and Lightning's bookkeeping; no data loading, no optimizer
      update). On CUDA, measured steps synchronize; other steps use CUDA events read later, so
      the monitor adds no synchronization to them.
    - on measured steps (also ``on_epoch``: columns ``..._step`` and the epoch mean
      ``..._epoch``): ``prior_ms`` and ``baseline_ms`` (the replays), ``ratio`` =
      ``prior_ms / baseline_ms``, ``overhead_ms`` = ``step_ms - prior_ms`` and
      ``baseline_loss`` (equal to the step's task loss: a check that the prior was off);
    - ``loss`` (what the step returned), ``task_loss``, ``prior_weighted``, ``prior`` and
      ``prior_share`` = ``|prior_weighted| / (|task_loss| + |prior_weighted|)`` when the prior's
      value is known (from an AttributionPrior callback, or logged by the module under
      ``prior_key`` / ``weighted_key`` as :class:`~priors.PriorModule` does);
    - CUDA: ``peak_mem_mb`` (``torch.cuda.max_memory_allocated`` over the real step, reset at
      its start, which resets it for anyone else reading it too) and, on measured steps,
      ``prior_peak_mem_mb``, ``baseline_peak_mem_mb`` and ``mem_ratio`` of the replays; CPU:
      ``rss_mb``, the process's resident memory.

    At the end of fit :meth:`summary` is printed and sent to the trainer's loggers; the
    training pipeline also merges it into ``result.json``.

    Example (a :class:`~priors.PriorModule` on generated data; the summary prints at the end):

        >>> import pytorch_lightning as pl, torch
        >>> from priors import Prior, PriorModule
        >>> from priors.data import SyntheticTabularDataModule
        >>> module = PriorModule(torch.nn.Linear(20, 1, bias=False), Prior("xg", "gini", 0.1),
        ...                      task="binary")
        >>> monitor = PriorCostMonitor(every_n_steps=2)
        >>> trainer = pl.Trainer(callbacks=[monitor], max_epochs=1, limit_val_batches=0,
        ...                      logger=False, enable_checkpointing=False,
        ...                      enable_progress_bar=False, enable_model_summary=False)
        >>> trainer.fit(module, SyntheticTabularDataModule(n_samples=1000))
        [PriorCostMonitor] mean_step_ms=...
        >>> monitor.summary()["prior_cost/mean_ratio"] > 0
        True

    Limits: replays re-run ``training_step`` outside Lightning's loop, so they need automatic
    optimization and a single process (``every_n_steps=0`` only times the real steps); Python
    state your step mutates besides the above (counters, private ``torch.Generator`` objects)
    is not restored; callback hooks are not called for the replays' backward; a measured step
    costs two extra forward+backward passes.
    """

    def __init__(
        self,
        every_n_steps: Optional[int] = None,
        warmup_steps: int = 2,
        first_steps: int = 3,
        baseline_step: Union[None, str, BaselineStep] = None,
        prior_key: str = "train/prior",
        weighted_key: str = "train/prior_weighted",
        log_prefix: str = "prior_cost/",
        verbose: bool = True,
    ):
        if every_n_steps is not None and every_n_steps < 0:
            raise ValueError(f"every_n_steps must be >= 0 (0: no baseline), got {every_n_steps}")
        if warmup_steps < 0 or first_steps < 0:
            raise ValueError("warmup_steps and first_steps must be >= 0")
        self.every_n_steps = every_n_steps
        self.warmup_steps = warmup_steps
        self.first_steps = first_steps
        self.baseline_step = resolve_callable(baseline_step, "baseline_step")
        self.prior_key, self.weighted_key = prior_key, weighted_key
        self.log_prefix = log_prefix
        self.verbose = verbose
        self._cuda = False
        self._priors: List[AttributionPrior] = []
        self._reset()

    def _reset(self) -> None:
        self._batch = 0
        self._start: Any = None
        self._end: Any = None
        self._replays: Optional[Dict[str, Replay]] = None
        self._step_ms: List[float] = []
        self._measured_rows: List[Dict[str, float]] = []
        self._peaks: List[float] = []
        self._pending: List[Tuple[Any, Any, bool]] = []
        self._share_sum: Optional[Tensor] = None
        self._share_n = 0
        self._warmed_up = False

    @property
    def measures_baseline(self) -> bool:
        return self.every_n_steps != 0

    # --- setup -------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or not self.measures_baseline:
            return
        if not pl_module.automatic_optimization:
            raise RuntimeError(
                "PriorCostMonitor measures the unregularized baseline by re-running training_step, "
                "which a manually optimized module would use to step its optimizers; use "
                "PriorCostMonitor(every_n_steps=0) to only time the steps")
        if trainer.world_size > 1:
            raise RuntimeError("PriorCostMonitor's baseline runs in one process; with "
                               f"world_size={trainer.world_size} use every_n_steps=0 (timing only)")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._reset()
        self._cuda = pl_module.device.type == "cuda"
        self._device = pl_module.device
        self._priors = [cb for cb in trainer.callbacks
                        if isinstance(cb, AttributionPrior) and cb.is_attached_to(pl_module)]
        self._replayer = StepReplayer(self.baseline_step, self._priors, pl_module.device)
        has_prior = bool(self.baseline_step or self._priors or (
            isinstance(pl_module, PriorModule) and pl_module.prior is not None))
        if self.measures_baseline and not has_prior:
            rank_zero_warn(
                f"PriorCostMonitor: {type(pl_module).__name__} has no prior that the monitor knows "
                "how to remove (no AttributionPrior callback, not a PriorModule with a prior, no "
                "baseline_step=...), so the baseline is the module's own step and the ratio "
                "measures only noise")

    # --- which steps are measured -------------------------------------------------------------------------------
    def _measured(self, trainer: pl.Trainer, i: int) -> bool:
        if not self.measures_baseline or i < self.warmup_steps:
            return False
        if i < self.warmup_steps + self.first_steps:
            return True
        n = self.every_n_steps or trainer.log_every_n_steps
        return n > 0 and (trainer.global_step + 1) % n == 0

    # --- the real step -------------------------------------------------------------------------
    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        measure = self._measured(trainer, self._batch)
        self._log_now = measure or (trainer.log_every_n_steps > 0 and
                                    (trainer.global_step + 1) % trainer.log_every_n_steps == 0)
        self._replays = None
        if measure:
            rounds = 1 if self._warmed_up else 2  # the first measurement follows a warm-up
            self._warmed_up = True
            self._replays = self._replayer.replay_both(
                trainer, pl_module, batch, batch_idx, reverse=len(self._measured_rows) % 2 == 1,
                rounds=rounds)
        self._end = None
        if self._cuda:
            torch.cuda.reset_peak_memory_stats(self._device)
        if self._cuda and not measure:
            self._start = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._start = time.perf_counter()  # on CUDA, synchronized by the replays

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._start is None:
            return
        if isinstance(self._start, float):
            self._replayer.sync()
            self._end = time.perf_counter()
        else:
            self._end = torch.cuda.Event(enable_timing=True)
            self._end.record()
        self._peak = torch.cuda.max_memory_allocated(self._device) / 2**20 if self._cuda else None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        i, self._batch = self._batch, self._batch + 1
        if self._end is None:
            return  # no backward in this step (it returned None)
        counted = i >= self.warmup_steps
        step_ms = self._step_time(counted)
        metrics: Dict[str, Any] = {} if step_ms is None else {"step_ms": step_ms}
        if self._cuda:
            metrics["peak_mem_mb"] = self._peak
            if counted:
                self._peaks.append(self._peak)
        elif self._log_now:
            metrics["rss_mb"] = rss_mb()
        if self._log_now:
            metrics.update(self._loss_terms(trainer, outputs))
        p = self.log_prefix
        if metrics and self._log_now:
            pl_module.log_dict({p + k: v for k, v in metrics.items()}, on_step=True, on_epoch=False,
                               batch_size=1)
        if self._replays is not None and step_ms is not None:
            measured = self._measured_metrics(step_ms)
            pl_module.log_dict({p + k: v for k, v in measured.items()}, on_step=True, on_epoch=True,
                               batch_size=1)

    def _measured_metrics(self, step_ms: float) -> Dict[str, Any]:
        base, prior = self._replays["baseline"], self._replays["prior"]
        row = {"step_ms": step_ms, "prior_ms": prior.ms, "baseline_ms": base.ms,
               "ratio": prior.ms / base.ms, "overhead_ms": step_ms - prior.ms}
        if base.peak_mb is not None:
            row.update(prior_peak_mem_mb=prior.peak_mb, baseline_peak_mem_mb=base.peak_mb,
                       mem_ratio=prior.peak_mb / base.peak_mb)
        self._measured_rows.append(row)
        out: Dict[str, Any] = {k: v for k, v in row.items() if k != "step_ms"}
        out["baseline_loss"] = base.loss
        return out

    def _step_time(self, counted: bool) -> Optional[float]:
        if isinstance(self._end, float):
            step_ms = (self._end - self._start) * 1e3
            if counted:
                self._step_ms.append(step_ms)
            return step_ms
        self._pending.append((self._start, self._end, counted))
        if self._log_now:
            self._end.synchronize()
        latest = self._resolve_pending(block=False)
        return latest if self._log_now else None

    def _resolve_pending(self, block: bool) -> Optional[float]:
        """Read the CUDA event pairs that have completed; return the latest step's time."""
        latest = None
        while self._pending and (block or self._pending[0][1].query()):
            start, end, counted = self._pending.pop(0)
            end.synchronize()
            latest = start.elapsed_time(end)
            if counted:
                self._step_ms.append(latest)
        return latest

    def _loss_terms(self, trainer: pl.Trainer, outputs: Any) -> Dict[str, Tensor]:
        loss = loss_of(outputs)
        if loss is None:
            return {}
        if self._priors:
            prior = self._priors[0].last.get("prior")
            weighted = self._priors[0].last.get("prior_weighted")
        else:
            metrics = trainer.callback_metrics
            prior, weighted = metrics.get(self.prior_key), metrics.get(self.weighted_key)
        terms: Dict[str, Tensor] = {"loss": loss.detach()}
        if weighted is not None:
            weighted = weighted.detach().to(loss.device)
            task = loss.detach() - weighted
            share = weighted.abs() / (task.abs() + weighted.abs()).clamp_min(1e-12)
            terms.update(task_loss=task, prior_weighted=weighted, prior_share=share)
            self._share_sum = share if self._share_sum is None else self._share_sum + share
            self._share_n += 1
        if prior is not None:
            terms["prior"] = prior.detach()
        return terms

    # --- end of fit ----------------------------------------------------------------------------
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending:
            self._resolve_pending(block=True)
        if self.measures_baseline and not self._measured_rows:
            rank_zero_warn(f"PriorCostMonitor: no baseline was measured in {self._batch} steps "
                           f"(warmup_steps={self.warmup_steps}); lower warmup_steps or "
                           "every_n_steps")
        summary = self.summary()
        if not summary or not trainer.is_global_zero:
            return
        if self.verbose:
            shown = ", ".join(f"{k.removeprefix(self.log_prefix)}={v:.4g}"
                              for k, v in summary.items())
            print(f"[PriorCostMonitor] {shown}")
        for logger in trainer.loggers:
            logger.log_metrics(summary, step=trainer.global_step)
            logger.save()

    def summary(self) -> Dict[str, float]:
        """End-of-fit numbers over the steps after warm-up; keys absent where nothing was measured.

        ``mean_ratio`` is the mean time of the regularized replays over the mean time of the
        unregularized ones (pairs on the same batch; robust to one preempted replay),
        ``median_ratio`` the median of the per-batch ratios; ``mean_step_ms`` averages all real
        steps after warm-up, ``mean_prior_ms``, ``mean_baseline_ms`` and ``mean_overhead_ms``
        the measured steps; ``n_steps`` and ``n_baseline`` count them; ``mean_prior_share``
        averages ``prior_share`` over the logged steps. Memory: ``max_peak_mem_mb`` (real steps)
        and ``mem_ratio`` (regularized over unregularized replay peaks) on CUDA, ``max_rss_mb``
        (peak resident memory of the process) on CPU.
        """
        p, out, rows = self.log_prefix, {}, self._measured_rows
        if self._step_ms:
            out[p + "mean_step_ms"] = statistics.fmean(self._step_ms)
            out[p + "n_steps"] = float(len(self._step_ms))
        if rows:
            col = {k: [r[k] for r in rows] for k in rows[0]}
            out[p + "mean_ratio"] = sum(col["prior_ms"]) / sum(col["baseline_ms"])
            out[p + "median_ratio"] = statistics.median(col["ratio"])
            for k in ("prior_ms", "baseline_ms", "overhead_ms"):
                out[p + "mean_" + k] = statistics.fmean(col[k])
            out[p + "n_baseline"] = float(len(rows))
            if "mem_ratio" in col:
                peak, base_peak = max(col["prior_peak_mem_mb"]), max(col["baseline_peak_mem_mb"])
                out[p + "max_prior_peak_mem_mb"] = peak
                out[p + "max_baseline_peak_mem_mb"] = base_peak
                out[p + "mem_ratio"] = peak / base_peak
        if self._share_n:
            out[p + "mean_prior_share"] = float(self._share_sum) / self._share_n
        if self._peaks:
            out[p + "max_peak_mem_mb"] = max(self._peaks)
        if out and not self._cuda:
            out[p + "max_rss_mb"] = max_rss_mb()
        return {k: v for k, v in out.items() if not math.isnan(v)}

