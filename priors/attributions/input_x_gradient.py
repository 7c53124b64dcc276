"""Input x gradient; X-Gradient on nonnegatively homogeneous networks (X-DNNs)."""
from __future__ import annotations

from typing import Callable, Optional

from torch import Tensor

from ..core.checks import check_batched, leaf_or_graph_input
from ..core.targets import Target
from .registry import register
from .gradient import gradient


# One computation, two registry entries that differ only in what they promise:
# ``xg`` (X-Gradient) is the X-DNN method (configs drop model biases for it and the prior checks
# homogeneity); ``ixg`` (alias ``input_x_gradient``) is plain input x gradient on any model.
@register("xg", aliases=("x_gradient",), shares_forward=True, requires_xdnn=True,
          complete=True,
          summary="X-Gradient: input x gradient on an X-DNN, equal to IG with a zero baseline")
@register("ixg", aliases=("input_x_gradient", "inputxgradient"), shares_forward=True,
          summary="Input x gradient on any model (no X-DNN requirement)")
def input_x_gradient(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    target: Target = None,
    create_graph: bool = False,
    outputs: Optional[Tensor] = None,
) -> Tensor:
    r"""Input times gradient: :math:`x \odot \partial f_t(x) / \partial x`.

    On a nonnegatively homogeneous network (:math:`f(\alpha x) = \alpha f(x)` for
    :math:`\alpha \ge 0`, e.g. a ReLU network without biases, see :func:`priors.to_xdnn`) this is
    *X-Gradient* and equals Integrated Gradients with a zero baseline exactly, at the cost of a
    single backward pass; it also satisfies completeness, :math:`\sum_i a_i = f_t(x)`.

    Hesse, Schaub-Meyer and Roth, "Fast Axiomatic Attribution for Neural Networks",
    NeurIPS 2021, https://arxiv.org/abs/2111.07668. Input x gradient: Shrikumar et al. 2016,
    https://arxiv.org/abs/1605.01713.

    Registered twice: ``xg`` (alias ``x_gradient``) requires an X-DNN, ``ixg`` (alias
    ``input_x_gradient``) runs on any model. Arguments as in :func:`priors.attributions.gradient`;
    returns a tensor shaped like ``inputs``.
    """
    if outputs is None:  # run the forward here, so the inputs are validated once
        check_batched(inputs)
        inputs = leaf_or_graph_input(inputs)
        outputs = model(inputs)
    grad = gradient(model, inputs, target, create_graph=create_graph, outputs=outputs)
    # Without create_graph the gradient is a constant; a graph through ``inputs`` alone would
    # give wrong derivatives (and keep a throwaway leaf alive), so return a plain tensor.
    return inputs * grad if create_graph else inputs.detach() * grad
