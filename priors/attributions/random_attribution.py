"""Random attributions: a model-independent baseline for attribution metrics."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..core.checks import check_batched
from .registry import register


@register("random", aliases=("random_baseline",), uses_target=False, differentiable=False,
          stochastic=True)
def random_attribution(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    create_graph: bool = False,
    seed: int = 0,
) -> Tensor:
    r"""Standard normal noise shaped like ``inputs``, :math:`a_i \sim \mathcal N(0, 1)`, i.i.d.

    Independent of the model and of the input values, so it ranks features at random: the
    reference that every method should beat on keep/remove metrics (as in Hooker, Erhan,
    Kindermans and Kim, "A Benchmark for Interpretability Methods in Deep Neural Networks",
    NeurIPS 2019, and Hesse, Schaub-Meyer and Roth, NeurIPS 2021). Both signs occur, so keep-
    positive and keep-negative metrics see random rankings too.

    Drawn from a CPU generator seeded with ``seed`` and moved to the inputs' device: the same
    numbers on every device; note that two batches of the same shape get the same draws.
    The model is never called. Not differentiable (not a training prior).
    """
    if create_graph:
        raise ValueError("random attributions are not differentiable w.r.t. the parameters")
    check_batched(inputs)
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(inputs.shape, generator=generator, dtype=inputs.dtype).to(inputs.device)
