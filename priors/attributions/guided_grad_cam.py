"""Guided Grad-CAM: Guided Backpropagation weighted pixelwise by the upsampled Grad-CAM map."""
from __future__ import annotations

from torch import Tensor, nn

from ..core.targets import Target
from .grad_cam import Layer, grad_cam
from .guided_backprop import guided_backprop
from .registry import register


@register("guided_grad_cam", aliases=("guided_gradcam",), requires_conv=True,
          differentiable=False)
def guided_grad_cam(
    model: nn.Module,
    inputs: Tensor,
    target: Target = None,
    create_graph: bool = False,
    layer: Layer = None,
) -> Tensor:
    r"""Guided Grad-CAM, the elementwise product

    .. math:: \mathrm{GGC}(x) = \mathrm{GB}(x) \odot \mathrm{up}(L_{\mathrm{Grad\text{-}CAM}})

    of :func:`~priors.attributions.guided_backprop` and the bilinearly upsampled
    :func:`~priors.attributions.grad_cam` map of ``layer`` (same for every channel).

    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization", ICCV 2017, https://arxiv.org/abs/1610.02391.

    Needs image inputs, a convolutional layer and ``nn.ReLU`` modules (see both methods); not
    differentiable w.r.t. the parameters (guided backprop is not). Returns a tensor shaped like
    ``inputs``.
    """
    if create_graph:
        raise ValueError("guided Grad-CAM is not differentiable w.r.t. the parameters")
    cam = grad_cam(model, inputs, target, layer=layer)  # validates the inputs and the layer first
    return guided_backprop(model, inputs, target) * cam
