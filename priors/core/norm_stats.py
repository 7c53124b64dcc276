"""Keep normalization layers' running statistics out of a prior's extra forward passes."""
from __future__ import annotations

import contextlib
from typing import Iterator, List, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase


@contextlib.contextmanager
def frozen_running_stats(model: object) -> Iterator[None]:
    """Within the context, BatchNorm/InstanceNorm layers in training mode still normalize with
    the batch's statistics, but do not update their running statistics.

    Expected Gradients, Integrated Gradients and SmoothGrad run the model on interpolated or
    noisy points; left alone, those forwards would pull the running mean and variance (used at
    evaluation) towards points that are not data. ``momentum`` is set to 0 (the running values
    are then kept exactly: ``(1 - 0) * running + 0 * batch``) and ``num_batches_tracked`` is
    restored. The buffers are not rewritten, so autograd's saved tensors stay valid.
    """
    saved: List[Tuple[_NormBase, object, torch.Tensor]] = []
    if isinstance(model, nn.Module):
        for m in model.modules():
            if isinstance(m, _NormBase) and m.training and m.track_running_stats:
                count = m.num_batches_tracked
                saved.append((m, m.momentum, count.clone() if count is not None else None))
                m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, count in saved:
            m.momentum = momentum
            if count is not None:
                with torch.no_grad():
                    m.num_batches_tracked.copy_(count)
