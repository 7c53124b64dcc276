"""ReLU, max-pooling and adaptive average-pooling layers whose backward is cheap to differentiate.

A prior differentiates a gradient (double backward). PyTorch's own ReLU and max-pool backward
formulas take the layer's forward tensor as an input, and differentiating them sends a zero
gradient into that tensor, which autograd then carries through the whole forward graph below
it: for a prior that runs its own forward (Expected Gradients, IG, SmoothGrad) that is one extra
full backward of zeros per step. Both layers are piecewise linear, so the derivative of their
backward with respect to the forward tensor is exactly zero almost everywhere: these versions
compute the same backward from a *detached* mask or index, the second-order graph stops there,
and every gradient is unchanged (tested bit-for-bit against ``nn.ReLU`` / ``nn.MaxPool2d``).
Adaptive average pooling is linear, yet PyTorch's backward formula also takes the forward input
(for its shape only) and sends the same zero gradient into it; here the backward gets a
zero-stride stand-in of that shape instead. That matters for a prior with a *shared* forward
(X-Gradient, RRR, gradient): without it, the penalty's backward ran a full backward of zeros
through every layer below X-AlexNet's pooling (about 110 ms of a 1 s step on CPU).
They subclass the torch modules, so ``isinstance`` checks (the X-DNN allow-list, Guided
Backprop's hooks) see them as ReLU and max-pooling.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _ReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        out = x.clamp_min(0)
        ctx.save_for_backward(out)
        ctx.set_materialize_grads(False)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        if grad is None:
            return None
        (out,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, out.detach(), 0)


class _MaxPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, kernel_size, stride, padding, dilation, ceil_mode) -> Tensor:
        out, indices = F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode,
                                    return_indices=True)
        ctx.save_for_backward(x, indices)
        ctx.args = (kernel_size, stride, padding, dilation, ceil_mode)
        ctx.set_materialize_grads(False)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        if grad is None:
            return (None,) * 6
        x, indices = ctx.saved_tensors
        k, s, p, d, c = ctx.args
        gx = torch.ops.aten.max_pool2d_with_indices_backward(grad, x.detach(), k, s, p, d, c,
                                                             indices)
        return gx, None, None, None, None, None


class _AdaptiveAvgPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, output_size) -> Tensor:
        # Shape, dtype and device of x without its memory or its place in the graph.
        ctx.like_input = x.detach().new_empty(()).expand(x.shape)
        ctx.set_materialize_grads(False)
        return F.adaptive_avg_pool2d(x, output_size)

    @staticmethod
    def backward(ctx, grad: Tensor):
        if grad is None:
            return None, None
        return torch.ops.aten._adaptive_avg_pool2d_backward(grad, ctx.like_input), None


def _pair(v):
    return [v, v] if isinstance(v, int) else list(v)


class ReLU(nn.ReLU):
    """``nn.ReLU`` with a backward that differentiates cheaply (always out of place)."""

    def forward(self, x: Tensor) -> Tensor:
        return _ReLU.apply(x)


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` with a backward that differentiates cheaply."""

    def forward(self, x: Tensor) -> Tensor:
        if self.return_indices:
            return super().forward(x)
        stride = self.stride if self.stride is not None else self.kernel_size
        return _MaxPool2d.apply(x, _pair(self.kernel_size), _pair(stride), _pair(self.padding),
                                _pair(self.dilation), self.ceil_mode)


class AdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` with a backward that does not reach back into the forward graph."""

    def forward(self, x: Tensor) -> Tensor:
        return _AdaptiveAvgPool2d.apply(x, self.output_size)


def use_piecewise_layers(model: nn.Module) -> nn.Module:
    """Replace, in place, every ``nn.ReLU``, ``nn.MaxPool2d`` and ``nn.AdaptiveAvgPool2d``
    module of ``model`` by the versions above (same results, cheaper priors); returns
    ``model``. Functional ``F.relu`` calls inside a ``forward`` are not touched."""
    for name, child in model.named_children():
        if type(child) is nn.ReLU:
            setattr(model, name, ReLU())
        elif type(child) is nn.MaxPool2d and not child.return_indices:
            setattr(model, name, MaxPool2d(child.kernel_size, child.stride, child.padding,
                                           child.dilation, ceil_mode=child.ceil_mode))
        elif type(child) is nn.AdaptiveAvgPool2d:
            setattr(model, name, AdaptiveAvgPool2d(child.output_size))
        else:
            use_piecewise_layers(child)
    return model
