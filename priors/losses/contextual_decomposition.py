"""Contextual decomposition (CD) of a network's logits into a part of chosen features and the rest.

Murdoch, Liu and Yu, "Beyond Word Importance: Contextual Decomposition to Extract Interactions
from LSTMs", ICLR 2018; for CNNs Singh, Murdoch and Yu, "Hierarchical interpretations for neural
network predictions", ICLR 2019, https://arxiv.org/abs/1806.05337. The input splits into
:math:`\\beta = M \\odot x` (the chosen features) and :math:`\\gamma = (1 - M) \\odot x`; each
layer maps the pair so that :math:`\\beta' + \\gamma'` is the layer's output:

* Linear / Conv2d: :math:`\\beta' = W\\beta + b\\,\\frac{|W\\beta|}{|W\\beta| + |W\\gamma|}`,
  :math:`\\gamma' = W\\gamma + b\\,\\frac{|W\\gamma|}{|W\\beta| + |W\\gamma|}` (the bias shared in
  proportion to the parts' magnitudes; all of it to :math:`\\gamma` where both are 0);
* ReLU: :math:`\\beta' = \\mathrm{ReLU}(\\beta)`,
  :math:`\\gamma' = \\mathrm{ReLU}(\\beta + \\gamma) - \\mathrm{ReLU}(\\beta)`;
* max pooling: both parts taken at the positions of the maxima of :math:`\\beta + \\gamma`;
* average pooling, flatten, identity: linear, applied to each part.

So :math:`\\beta + \\gamma` equals the logits up to rounding at every layer. Supported: models
that apply only these layers one after another (``nn.Sequential`` trees, or any module whose
leaf modules run in registration order, each on the previous one's output); anything else
(BatchNorm, dropout, attention, functional operations between layers) is refused, naming the
layer.
"""
from __future__ import annotations

import weakref
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SUPPORTED = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
             nn.Flatten, nn.Identity)


_CHECKED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _leaves(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    return [(name or type(model).__name__, m) for name, m in model.named_modules()
            if not list(m.children())]


def layer_chain(model: nn.Module, inputs: Tensor) -> List[Tuple[str, nn.Module]]:
    """The leaf layers of ``model`` in the order they run, checked to be a plain chain on
    ``inputs`` (each layer on the previous one's output, the last one's output the model's);
    ``ValueError`` naming the first layer CD cannot decompose."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"CDEP decomposes an nn.Module, got {type(model).__name__}")
    leaves = _leaves(model)
    for name, module in leaves:
        if not isinstance(module, SUPPORTED) or (isinstance(module, nn.MaxPool2d)
                                                 and module.return_indices):
            raise ValueError(
                f"CDEP (contextual decomposition) cannot decompose layer {name!r} "
                f"({type(module).__name__}); supported: "
                f"{', '.join(t.__name__ for t in SUPPORTED)} applied one after another "
                "(BatchNorm-free, dropout-free nets)")
    key = tuple(inputs.shape[1:])
    known = _CHECKED.get(model)
    if known is not None and known[0] == key:
        return known[1]
    order: List[Tuple[str, nn.Module, Tensor, Tensor]] = []
    handles = [m.register_forward_hook(
        lambda mod, args, out, name=name: order.append((name, mod, args[0], out)))
        for name, m in leaves]
    try:
        probe = inputs[:2].detach()
        with torch.no_grad():
            final = model(probe)
    finally:
        for h in handles:
            h.remove()
    previous = None
    for i, (name, module, arg, out) in enumerate(order):
        if i >= len(leaves) or leaves[i][1] is not module:
            raise ValueError(f"CDEP: layer {name!r} runs out of registration order or more "
                             "than once; contextual decomposition here needs a chain of layers")
        if arg is not (probe if previous is None else previous):
            raise ValueError(f"CDEP: the input of layer {name!r} is not the previous layer's "
                             "output (an operation outside a module runs in between); "
                             "contextual decomposition needs a chain of supported layers")
        previous = out
    if len(order) != len(leaves) or previous is not final:
        raise ValueError("CDEP: the model's output is not its last layer's output, or some "
                         "layers did not run; contextual decomposition needs a chain")
    _CHECKED[model] = (key, leaves)  # the structure does not change between steps
    return leaves


def _affine(module: nn.Module, rel: Tensor, irrel: Tensor) -> Tuple[Tensor, Tensor]:
    bias = module.bias
    weight_only = (F.linear(torch.cat([rel, irrel]), module.weight) if isinstance(module, nn.Linear)
                   else module._conv_forward(torch.cat([rel, irrel]), module.weight, None))
    rel, irrel = weight_only.chunk(2)
    if bias is None:
        return rel, irrel
    b = bias.view(1, -1, *([1] * (rel.dim() - 2)))
    a_rel, a_irrel = rel.abs(), irrel.abs()
    total = a_rel + a_irrel
    share = torch.where(total > 0, a_rel / total.clamp(min=torch.finfo(total.dtype).tiny),
                        torch.zeros_like(total))
    return rel + share * b, irrel + (1 - share) * b


def decompose(model: nn.Module, inputs: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
    """``(rel, irrel)``: the logits' parts of the features ``mask`` marks and of the rest
    (``rel + irrel == model(inputs)`` up to rounding); differentiable w.r.t. the parameters."""
    chain = layer_chain(model, inputs)
    mask = mask.to(inputs).expand_as(inputs)
    rel, irrel = inputs * mask, inputs * (1 - mask)
    for _, module in chain:
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            rel, irrel = _affine(module, rel, irrel)
        elif isinstance(module, nn.ReLU):
            total = F.relu(rel + irrel)
            rel = F.relu(rel)
            irrel = total - rel
        elif isinstance(module, nn.MaxPool2d):
            _, idx = F.max_pool2d(rel + irrel, module.kernel_size, module.stride, module.padding,
                                  module.dilation, module.ceil_mode, return_indices=True)
            rel = rel.flatten(2).gather(2, idx.flatten(2)).view_as(idx)
            irrel = irrel.flatten(2).gather(2, idx.flatten(2)).view_as(idx)
        else:  # average pooling, flatten, identity: linear
            rel, irrel = module(rel), module(irrel)
    return rel, irrel
