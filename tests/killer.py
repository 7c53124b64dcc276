"""A callback that SIGKILLs its own training process at a given step (for the resume test)."""
import os
import signal

import pytorch_lightning as pl


class KillAtStep(pl.Callback):
    """Kills the process with SIGKILL (no cleanup, no exception handlers) when the trainer
    starts the batch of ``step`` (a global step count)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
