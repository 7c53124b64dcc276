"""Attributions of a chosen layer for guidance losses (input / mid / final, Rao et al. 2023).

Rao, Böhle, Parchami-Araghi and Schiele, "Studying How to Efficiently and Effectively Guide
Models with Explanations", ICCV 2023, https://arxiv.org/abs/2303.11932, guide a model at its
input, at an intermediate layer ("mid") or at the last feature layer ("final"). Here:

* ``layer="input"``: the input itself (no hook; the task's forward can be shared);
* ``"final"``: the last ``nn.Conv2d`` (registration order), ``"mid"``: the middle one
  (``convs[(n - 1) // 2]``);
* any dotted module name or module of the model.

Two attribution rules of a layer's activations :math:`A` (``K`` channels) and the gradient
:math:`G = \\partial f_t / \\partial A` of the attributed output: ``"grad_cam"``
(:math:`\\sum_k \\bar G_k A_k`, :math:`\\bar G_k` the spatial mean; Selvaraju et al. ICCV 2017)
and ``"ixg"`` (:math:`\\sum_k G_k A_k`); both summed over channels to ``(B, 1, h, w)`` for
feature maps (input images included), kept as they are otherwise.
"""
from __future__ import annotations

from typing import List, Optional, Union

import torch
from torch import Tensor, nn

from ..core.targets import select_output
from ..attributions.grad_cam import find_layer
from ..core.checks import leaf_or_graph_input

Layer = Union[str, nn.Module, None]
KINDS = ("grad_cam", "ixg")
NORMALIZE = (None, "none", "max", "sum")


def resolve_layer(model: nn.Module, layer: Layer) -> Optional[nn.Module]:
    """The module whose output is guided, ``None`` for the input."""
    if layer in (None, "input"):
        return None
    if layer in ("final", "mid"):
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError(f"layer={layer!r} picks a convolutional layer, and "
                             f"{type(model).__name__} has no nn.Conv2d; use layer='input' or "
                             "a dotted module name")
        return convs[-1] if layer == "final" else convs[(len(convs) - 1) // 2]
    return find_layer(model, layer)


def layer_attribution(model, inputs: Tensor, target=None, layer: Layer = "final",
                      kind: str = "grad_cam", create_graph: bool = True,
                      outputs: Optional[Tensor] = None) -> Tensor:
    """Attributions of ``layer``'s activations by rule ``kind`` (see the module docstring);
    ``outputs`` (at ``inputs``, which must require grad) are reused for ``layer="input"``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    module = resolve_layer(model, layer) if isinstance(model, nn.Module) else None
    if module is None and layer not in (None, "input"):
        raise TypeError("a layer can only be guided in an nn.Module")
    if module is None:
        if outputs is None or not inputs.requires_grad:
            inputs = leaf_or_graph_input(inputs)
            outputs = model(inputs)
        acts = inputs
    else:
        captured: List[Tensor] = []
        handle = module.register_forward_hook(lambda m, a, out: captured.append(out))
        try:
            outputs = model(leaf_or_graph_input(inputs))
        finally:
            handle.remove()
        if len(captured) != 1 or not isinstance(captured[0], Tensor):
            raise ValueError(f"the guided layer {type(module).__name__} must run exactly once "
                             "per forward and return a tensor")
        acts = captured[0]
    (grads,) = torch.autograd.grad(select_output(outputs, target).sum(), acts,
                                   create_graph=create_graph, retain_graph=True)
    if kind == "grad_cam":
        if acts.dim() != 4:
            raise ValueError(f"kind='grad_cam' needs feature maps (B, K, h, w), got "
                             f"{tuple(acts.shape)}; use kind='ixg'")
        grads = grads.mean(dim=(2, 3), keepdim=True)
    attr = grads * acts
    return attr.sum(1, keepdim=True) if attr.dim() == 4 else attr


def postprocess(attr: Tensor, clip: bool = False, normalize: Optional[str] = None) -> Tensor:
    """The typology's options (Friedrich et al., Nature MI 2023): ``clip`` keeps the positive
    part (ReLU, as Grad-CAM does), ``normalize`` divides each example by its maximum absolute
    value (``"max"``, to [-1, 1]) or by its sum of absolute values (``"sum"``)."""
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    if clip:
        attr = attr.clamp(min=0)
    if normalize in (None, "none"):
        return attr
    flat = attr.abs().flatten(1)
    scale = flat.amax(1) if normalize == "max" else flat.sum(1)
    # (a floor, not an added epsilon: a map that is 1 at its maximum stays exactly 1)
    scale = scale.clamp(min=torch.finfo(scale.dtype).tiny)
    return attr / scale.view(-1, *([1] * (attr.dim() - 1)))


def per_example_sum(t: Tensor) -> Tensor:
    return t.flatten(1).sum(1)
