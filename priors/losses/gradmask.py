"""GradMask: penalize the saliency of the class-score difference outside the relevant region."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..core.targets import is_single_output, select_output
from ..core.checks import leaf_or_graph_input
from .annotations import fit_mask
from .layers import per_example_sum
from .registry import register


def score_margin(outputs: Tensor, target) -> Tensor:
    """``|y_1 - y_0|`` of GradMask: the single logit's magnitude, or the attributed class's
    logit minus the largest other logit (two classes: exactly ``y_t - y_other``)."""
    if is_single_output(outputs):
        return outputs.reshape(-1).abs()
    chosen = select_output(outputs, target)
    others = outputs.scatter(1, _index(outputs, target), float("-inf")).amax(1)
    return (chosen - others).abs()


def _index(outputs: Tensor, target) -> Tensor:
    if isinstance(target, Tensor) and target.dim() == 1:
        return target.long().view(-1, 1)
    return torch.full((outputs.shape[0], 1), int(target), dtype=torch.long,
                      device=outputs.device)


@register("gradmask", annotations="wrong", shares_forward=True, attribution="grad")
def gradmask(model, inputs: Tensor, target=None, annotations: Tensor = None,
             create_graph: bool = True, outputs: Optional[Tensor] = None) -> Tensor:
    r"""GradMask's saliency penalty on the irrelevant region :math:`M`:

    .. math:: L_b = \Big\lVert M_b \odot \frac{\partial\, |y_{b,1} - y_{b,0}|}{\partial x_b}
              \Big\rVert_2^2

    (two-class score difference; for more classes the attributed class against the strongest
    other, see :func:`score_margin`).

    Simpson, Dutil, Bengio and Cohen, "GradMask: Reduce Overfitting by Regularizing Saliency",
    MIDL 2019 (extended abstract), https://arxiv.org/abs/1904.07478.
    """
    if outputs is None or not inputs.requires_grad:
        inputs = leaf_or_graph_input(inputs)
        outputs = model(inputs)
    (grad,) = torch.autograd.grad(score_margin(outputs, target).sum(), inputs,
                                  create_graph=create_graph, retain_graph=True)
    return per_example_sum((fit_mask(annotations, grad) * grad).pow(2))
