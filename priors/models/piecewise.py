"""ReLU and max-pooling layers whose backward is cheap to differentiate again.

A prior differentiates a gradient (double backward). PyTorch's own ReLU and max-pool backward
formulas take the layer's forward tensor as an input, and differentiating them sends a zero
gradient into that tensor, which autograd then carries through the whole forward graph below
it: for a prior that runs its own forward (Expected Gradients, IG, SmoothGrad) that is one extra
full backward of zeros per step. Both layers are piecewise linear, so the derivative of their
backward with respect to the forward tensor is exactly zero almost everywhere: these versions
compute the same backward from a *detached* mask or index, the second-order graph stops there,
and every gradient is unchanged (tested bit-for-bit against ``nn.ReLU`` / ``nn.MaxPool2d``).
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
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, out.detach(), 0)


class _MaxPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, kernel_size, stride, padding, dilation, ceil_mode) -> Tensor:
        out, indices = F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode,
                                    return_indices=True)
        ctx.save_for_backward(x, indices)
        ctx.args = (kernel_size, stride, padding, dilation, ceil_mode)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, indices = ctx.saved_tensors
        k, s, p, d, c = ctx.args
        gx = torch.ops.aten.max_pool2d_with_indices_backward(grad, x.detach(), k, s, p, d, c,
                                                             indices)
        return gx, None, None, None, None, None


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


def use_piecewise_layers(model: nn.Module) -> nn.Module:
    """Replace, in place, every ``nn.ReLU`` and ``nn.MaxPool2d`` module of ``model`` by the
    versions above (same results, cheaper priors); returns ``model``. Functional ``F.relu``
    calls inside a ``forward`` are not touched."""
    for name, child in model.named_children():
        if type(child) is nn.ReLU:
            setattr(model, name, ReLU())
        elif type(child) is nn.MaxPool2d and not child.return_indices:
            setattr(model, name, MaxPool2d(child.kernel_size, child.stride, child.padding,
                                           child.dilation, ceil_mode=child.ceil_mode))
        else:
            use_piecewise_layers(child)
    return model
