"""Forward hooks that find the model call inside an unmodified ``training_step``."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

from torch import Tensor, nn

from ..core.checks import leaf_or_graph_input


def _is_bookkeeping(module: nn.Module) -> bool:
    """Modules that may legitimately receive the logits: losses and metrics."""
    if isinstance(module, nn.modules.loss._Loss):
        return True
    try:
        from torchmetrics import Metric
    except ImportError:  # pragma: no cover - torchmetrics is a dependency
        return False
    return isinstance(module, Metric)


class ModelCapture:
    """Global module hooks that find the model call of a training step and keep its output.

    The captured call is the first (outermost) module call whose first argument is the batch
    input itself, or the first call of ``pinned``. For gradient-based priors evaluated at the
    input, that input is swapped for one that requires grad, so that the step's own forward
    pass also serves the attribution.

    Without ``pinned``, a later call of a module with parameters (not a loss or metric) that
    takes the captured output as an argument is recorded in ``fed_to``: the captured module
    was then an encoder, not the model whose logits the step uses.
    """

    def __init__(self, x: Tensor, pinned: Optional[nn.Module], needs_input_grad: bool):
        self.x, self.pinned, self.needs_input_grad = x, pinned, needs_input_grad
        self.module: Optional[nn.Module] = None
        self.input: Optional[Tensor] = None
        self.output: Any = None
        self.done = False
        self.fed_to: Optional[nn.Module] = None

    def pre(self, module: nn.Module, args: tuple):
        if self.done and self.pinned is None and self.fed_to is None:
            if any(a is self.output for a in args) and not _is_bookkeeping(module) \
                    and next(module.parameters(), None) is not None:
                self.fed_to = module
            return None
        if self.module is not None or not args:
            return None
        if self.pinned is not None:
            if module is not self.pinned or not isinstance(args[0], Tensor):
                return None
        elif args[0] is not self.x:
            return None
        self.module = module
        self.input = leaf_or_graph_input(args[0]) if self.needs_input_grad else args[0]
        return (self.input, *args[1:])

    def post(self, module: nn.Module, args: tuple, output: Any) -> None:
        if module is self.module and not self.done:
            self.output, self.done = output, True

    @contextlib.contextmanager
    def active(self) -> Iterator["ModelCapture"]:
        handles = [nn.modules.module.register_module_forward_pre_hook(self.pre),
                   nn.modules.module.register_module_forward_hook(self.post)]
        try:
            yield self
        finally:
            for h in handles:
                h.remove()
