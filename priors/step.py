"""One regularized training step: the pieces PriorModule, the callbacks and the benchmarks share."""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence

from torch import Tensor, nn

from .prior import Prior, PriorOutput
from .task import task_loss


class StepLoss(NamedTuple):
    loss: Tensor  # task loss + weighted penalty: what is back-propagated
    task_loss: Tensor
    prior: Optional[PriorOutput]  # None without a prior


def prior_step_loss(model: Callable[[Tensor], Tensor], prior: Optional[Prior], x: Tensor,
                    y: Tensor, task: str, mask: Optional[Tensor] = None, references=None,
                    step: Optional[int] = None, check_labels: bool = True,
                    check_inputs: bool = True) -> StepLoss:
    """Forward (shared with the attribution when the method allows), task loss and penalty.

    ``step`` is the global step (for penalties with a weight warm-up); ``check_labels=False``
    and ``check_inputs=False`` when the caller validated the batch already."""
    if prior is None:
        outputs = model(x)
        loss = task_loss(outputs, y, task, check=check_labels)
        return StepLoss(loss, loss, None)
    xin = prior.forward_inputs(x, check=check_inputs)
    out = prior.penalize(model, xin, model(xin), y, mask, references, step=step)
    tl = task_loss(out.outputs, y, task, check=check_labels)
    return StepLoss(tl + out.weighted, tl, out)


def backward_to_parameters(loss: Tensor, parameters: Sequence[nn.Parameter], *args,
                           **kwargs) -> None:
    """``loss.backward()`` restricted to ``parameters``.

    With a shared forward the batch input is a leaf that requires grad, so a plain backward also
    computes d loss / d x through the first layer (for a conv net, a full transposed
    convolution of the input's size) and stores it in ``x.grad``, which nobody reads.
    """
    loss.backward(*args, inputs=list(parameters), **kwargs)
