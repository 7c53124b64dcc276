"""The task losses: binary cross-entropy on one logit, cross-entropy over classes."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from .checks import check_labels
from .targets import is_single_output
from .outputs import select_logits

TASKS = ("binary", "multiclass")


def task_loss(outputs: Tensor, y: Tensor, task: str, num_classes: Optional[int] = None,
              check: bool = True) -> Tensor:
    """Binary: BCE with logits on a single logit; multi-class: cross-entropy. Labels are checked
    first (``check``): binary ones in {0, 1}, class ones integral and in range, none NaN."""
    outputs = select_logits(outputs)  # a tuple / dict / ModelOutput: its logits
    if check:
        check_labels(y, task, num_classes)
    if task == "binary":
        if is_single_output(outputs):
            outputs = outputs.reshape(-1)
        if outputs.shape != y.shape:
            raise ValueError(
                f"binary task: model outputs {tuple(outputs.shape)} and labels {tuple(y.shape)} "
                "must both be (batch,) (or outputs (batch, 1))"
            )
        return F.binary_cross_entropy_with_logits(outputs, y.to(outputs.dtype))
    if outputs.dim() != 2 or y.shape != outputs.shape[:1]:
        raise ValueError(
            f"multiclass task: outputs must be (batch, classes) and labels (batch,); got "
            f"{tuple(outputs.shape)} and {tuple(y.shape)}"
        )
    return F.cross_entropy(outputs, y.long())
