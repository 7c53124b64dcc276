"""Model-agnostic capture of a forward pass: taps (forward hooks) and temporary forward swaps.

The transformer methods explain a user's model as it is: they never convert it. A
:class:`Capture` is a context manager that, for one forward pass,

* **taps** modules: ``capture.tap(module, "n1")`` stores the module's output (``what="output"``)
  or its first positional input (``what="input"``) under a key of the current record;
* **swaps** a module's ``forward`` for a replacement (``capture.swap(module, fn)``), e.g. an
  attention module whose fused kernel hides the attention probabilities is run with an explicit
  softmax that computes the same outputs and records the probabilities, still in the graph;

and undoes every hook and swap on exit, even when the forward raises. Records are plain dicts,
one per ``capture.record(i)`` index (one per transformer block), plus ``capture.shared`` for
the tensors outside the blocks. Nothing here knows about vision: the text-model adapters can
tap a BERT layer the same way.

Example (one tap on each block, then the records):

>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
>>> with Capture() as cap:
...     for i in (0, 2):
...         cap.tap(model[i], "out", record=i)
...     logits = model(torch.ones(5, 3))
>>> cap.records[0]["out"].shape, cap.records[2]["out"].shape
(torch.Size([5, 4]), torch.Size([5, 2]))
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from torch import nn


class Capture:
    """Hooks and forward swaps for one traced forward pass (a context manager)."""

    def __init__(self) -> None:
        self.records: Dict[int, Dict[str, Any]] = {}
        self.shared: Dict[str, Any] = {}
        self._handles: List[Any] = []
        self._swapped: List[tuple] = []

    def record(self, index: Optional[int]) -> Dict[str, Any]:
        """The record of block ``index`` (``None``: the shared record)."""
        return self.shared if index is None else self.records.setdefault(index, {})

    def tap(self, module: nn.Module, key: str, record: Optional[int] = None,
            what: str = "output") -> None:
        """Store ``module``'s output (or first input, ``what="input"``) under ``key``."""
        if what not in ("input", "output"):
            raise ValueError(f"what must be 'input' or 'output', got {what!r}")
        target = self.record(record)
        if what == "input":
            def pre_hook(_module, args):
                target[key] = args[0]
            self._handles.append(module.register_forward_pre_hook(pre_hook))
        else:
            def hook(_module, _args, output):
                target[key] = output
            self._handles.append(module.register_forward_hook(hook))

    def swap(self, module: nn.Module, forward: Callable[..., Any]) -> None:
        """Run ``forward`` instead of ``module.forward`` until the capture ends."""
        had_own = "forward" in module.__dict__
        self._swapped.append((module, had_own, module.__dict__.get("forward")))
        module.forward = forward  # instance attribute: nn.Module.__call__ looks it up first

    def close(self) -> None:
        """Remove every hook and restore every swapped forward (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for module, had_own, previous in reversed(self._swapped):
            if had_own:
                module.forward = previous
            else:
                del module.forward
        self._swapped.clear()

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
