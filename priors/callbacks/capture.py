"""Forward hooks that find the model call inside an unmodified ``training_step``."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

from torch import Tensor, nn

from ..checks import leaf_or_graph_input


class ModelCapture:
    """Global module hooks that find the model call of a training step and keep its output.

    The captured call is the first (outermost) module call whose first argument is the batch
    input itself, or the first call of ``pinned``. For gradient-based priors evaluated at the
    input, that input is swapped for one that requires grad, so that the step's own forward
    pass also serves the attribution.
    """

    def __init__(self, x: Tensor, pinned: Optional[nn.Module], needs_input_grad: bool):
        self.x, self.pinned, self.needs_input_grad = x, pinned, needs_input_grad
        self.module: Optional[nn.Module] = None
        self.input: Optional[Tensor] = None
        self.output: Any = None
        self.done = False

    def pre(self, module: nn.Module, args: tuple):
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
