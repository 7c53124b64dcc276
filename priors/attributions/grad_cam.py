"""Grad-CAM: class activation maps of a convolutional layer weighted by pooled gradients."""
from __future__ import annotations

from typing import List, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.checks import check_batched, leaf_or_graph_input
from ..core.targets import Target, select_output
from .cnn_layers import default_cam_layer
from .registry import register

Layer = Union[None, str, nn.Module]


def find_layer(model: nn.Module, layer: Layer = None) -> nn.Module:
    """``layer`` as a module of ``model``: a module, a dotted name (``"features.3"``) or ``None``
    for the family's layer on torchvision CNNs (:mod:`.cnn_layers`: ``layer4`` of a ResNet,
    ``features`` of VGG, EfficientNet, ConvNeXt ...), else the last ``nn.Conv2d`` in
    registration order (``model.modules()``), which is the last one applied in sequential
    networks."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"Grad-CAM hooks a layer of the model, so the model must be an "
                        f"nn.Module, got {type(model).__name__}")
    if layer is None and default_cam_layer(model) is not None:
        layer = default_cam_layer(model)  # torchvision ResNet: layer4, VGG ...: features
    if layer is None:
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError(
                f"Grad-CAM needs a convolutional layer with spatial feature maps, and "
                f"{type(model).__name__} has no nn.Conv2d; pass layer=<a module or dotted name "
                "whose output is (B, K, h, w)>, or use a gradient method for models without "
                "feature maps (e.g. MLPs)")
        return convs[-1]
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n]
            raise ValueError(f"{type(model).__name__} has no layer {layer!r}; its layers: "
                             f"{names}") from None
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(f"layer {type(layer).__name__} is not a module of "
                             f"{type(model).__name__}")
        return layer
    raise TypeError(f"layer must be None, a dotted name or an nn.Module, got {type(layer).__name__}")


def layer_grad_cam(model: nn.Module, inputs: Tensor, target: Target = None, layer: Layer = None,
                   create_graph: bool = False) -> Tensor:
    """Grad-CAM at the layer's resolution, ``(B, 1, h, w)``, after the ReLU."""
    module = find_layer(model, layer)
    captured: List[Tensor] = []
    handle = module.register_forward_hook(lambda m, args, out: captured.append(out))
    try:
        with torch.enable_grad():
            outputs = model(leaf_or_graph_input(inputs))
    finally:
        handle.remove()
    if len(captured) != 1:
        raise ValueError(f"the Grad-CAM layer {type(module).__name__} ran {len(captured)} times "
                         "in one forward; choose a layer applied exactly once")
    acts = captured[0]
    if not isinstance(acts, Tensor) or acts.dim() != 4:
        shape = tuple(acts.shape) if isinstance(acts, Tensor) else type(acts).__name__
        raise ValueError(f"Grad-CAM needs feature maps (B, K, h, w) from its layer; "
                         f"{type(module).__name__} gives {shape}")
    selected = select_output(outputs, target)
    (grads,) = torch.autograd.grad(selected.sum(), acts, create_graph=create_graph)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # alpha_k: global-average-pooled gradients
    if not create_graph:  # a constant result: do not keep the forward's graph alive
        acts = acts.detach()
    return F.relu((weights * acts).sum(1, keepdim=True))


@register("grad_cam", aliases=("gradcam",), requires_conv=True)
def grad_cam(
    model: nn.Module,
    inputs: Tensor,
    target: Target = None,
    create_graph: bool = False,
    layer: Layer = None,
) -> Tensor:
    r"""Grad-CAM of a convolutional layer with feature maps :math:`A^k` (``K`` channels):

    .. math:: L = \mathrm{ReLU}\Big(\sum_k \alpha_k A^k\Big),\qquad
              \alpha_k = \frac{1}{hw} \sum_{i,j} \frac{\partial f_t(x)}{\partial A^k_{ij}},

    upsampled bilinearly (``align_corners=False``) from ``(h, w)`` to the input's ``(H, W)``.

    Selvaraju, Cogswell, Das, Vedantam, Parikh and Batra, "Grad-CAM: Visual Explanations from
    Deep Networks via Gradient-based Localization", ICCV 2017, https://arxiv.org/abs/1610.02391.

    The map has one value per pixel; it is returned **broadcast over the channels**, shaped like
    ``inputs`` ``(B, C, H, W)``, so that metrics treat every method alike (summing over channels
    multiplies it by ``C``). Needs image inputs and a layer with spatial feature maps: a model
    without ``nn.Conv2d`` (an MLP) raises ``ValueError`` (registry flag ``requires_conv``).

    Args:
        layer: the layer whose output is :math:`A` (a module of ``model`` or its dotted name);
            ``None``: the family's layer on torchvision CNNs (``layer4`` of a ResNet,
            ``features`` of VGG, EfficientNet, ConvNeXt), else the last ``nn.Conv2d`` (see
            :func:`find_layer`).
        create_graph: keep the graph (differentiable w.r.t. the parameters).
    """
    check_batched(inputs)
    module = find_layer(model, layer)  # first: on an MLP, say that it has no conv layer
    if inputs.dim() != 4:
        raise ValueError(f"Grad-CAM needs image inputs (B, C, H, W); got shape "
                         f"{tuple(inputs.shape)}")
    cam = layer_grad_cam(model, inputs, target, module, create_graph=create_graph)
    cam = F.interpolate(cam, size=inputs.shape[2:], mode="bilinear", align_corners=False)
    return cam.expand_as(inputs).contiguous()
