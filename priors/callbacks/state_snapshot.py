"""Save and restore what an extra, off-the-record training step may change."""
from __future__ import annotations

import contextlib
import random
from typing import Any, Iterable, Iterator, List, Tuple

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torchmetrics import Metric

_MISSING = object()


class StateSnapshot:
    """What an extra training step may change besides gradients: global and private RNGs,
    module buffers (BatchNorm running statistics) and torchmetrics states; :meth:`restore` puts
    them back in place, keeping tensor identities (metric compute groups share state tensors)."""

    _METRIC_ATTRS = ("_update_count", "_computed", "_forward_cache")

    def __init__(self, module: torch.nn.Module, holders: Iterable[Any] = ()):
        self.rng = (torch.get_rng_state(), random.getstate(), np.random.get_state())
        # Private generators, e.g. the ReferenceSampler that Expected Gradients draws from.
        holders = [*vars(module).values(), *holders]
        self.generators = [(g, g.get_state()) for g in generators_in(holders)]
        self.cuda_rng = (torch.cuda.get_rng_state_all()
                         if torch.cuda.is_available() and torch.cuda.is_initialized() else None)
        self.tensors: List[Tuple[Any, str, Any, Any]] = []
        self.attrs: List[Tuple[Any, str, Any]] = []
        for mod in module.modules():
            for name, buf in mod.named_buffers(recurse=False):
                self.tensors.append((mod, name, buf, buf.detach().clone()))
            if isinstance(mod, Metric):
                for name in mod._defaults:
                    value = getattr(mod, name)
                    saved = value.detach().clone() if isinstance(value, Tensor) else list(value)
                    self.tensors.append((mod, name, value, saved))
                self.attrs += [(mod, a, getattr(mod, a))
                               for a in self._METRIC_ATTRS if hasattr(mod, a)]

    def restore(self) -> None:
        for mod, name, ref, saved in self.tensors:
            if isinstance(ref, Tensor):
                with torch.no_grad():
                    ref.copy_(saved)
            else:
                ref[:] = saved
            setattr(mod, name, ref)
        for mod, name, value in self.attrs:
            setattr(mod, name, value)
        for g, state in self.generators:
            g.set_state(state)
        torch.set_rng_state(self.rng[0])
        random.setstate(self.rng[1])
        np.random.set_state(self.rng[2])
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)


def generators_in(objects: Iterable[Any]) -> List[torch.Generator]:
    """The ``torch.Generator`` objects among ``objects`` or held as their ``.generator``."""
    found = []
    for obj in objects:
        if isinstance(obj, torch.Generator):
            gen = obj
        else:  # an instance attribute only: never trigger properties of arbitrary objects
            gen = getattr(obj, "__dict__", {}).get("generator")
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


@contextlib.contextmanager
def swap_attribute(obj: Any, name: str, value: Any) -> Iterator[None]:
    """Shadow ``obj.name`` with an instance attribute for the duration of the context."""
    previous = obj.__dict__.get(name, _MISSING)
    obj.__dict__[name] = value
    try:
        yield
    finally:
        if previous is _MISSING:
            del obj.__dict__[name]
        else:
            obj.__dict__[name] = previous


def no_logging(pl_module: pl.LightningModule) -> contextlib.ExitStack:
    """Silence ``pl_module.log`` and ``log_dict`` (replayed steps must not log)."""
    stack = contextlib.ExitStack()
    for name in ("log", "log_dict"):
        stack.enter_context(swap_attribute(pl_module, name, lambda *args, **kwargs: None))
    return stack
