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


class KillAtHook(pl.Callback):
    """Kills the process with SIGKILL when the trainer calls ``hook`` (e.g. ``on_test_start``:
    after fit, when ``train.py`` has saved ``model.pt`` and is about to write its results)."""

    def __init__(self, hook: str):
        setattr(self, hook, lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL))


def kill_now(*args, **kwargs):
    """A run-level evaluation (``evaluate.py metric=...``) that SIGKILLs its process: the
    evaluation dies after its keep/remove files and before its summary and record."""
    os.kill(os.getpid(), signal.SIGKILL)


class InterruptAtStep(pl.Callback):
    """Sends the process SIGINT (what Ctrl+C sends) at the start of training step ``step``."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


class RecordStartStep(pl.Callback):
    """Writes the global step at which training starts (a resumed run: the checkpoint's)."""

    def __init__(self, path: str):
        self.path = path

    def on_train_start(self, trainer, pl_module):
        with open(self.path, "w") as handle:
            handle.write(str(trainer.global_step))
