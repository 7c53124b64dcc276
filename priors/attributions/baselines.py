"""Baselines x' of path methods (Integrated Gradients): zero, training mean, blurred input, noise.

Sturmfels, Lundberg and Lee, "Visualizing the Impact of Feature Attribution Baselines",
Distill 2020, https://distill.pub/2020/attribution-baselines/, compare these choices.
"""
from __future__ import annotations

import math
import weakref
from typing import Any, Union

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from ..core.checks import check_finite

BASELINES = ("zero", "mean", "blur", "uniform")
Baseline = Union[None, float, str, Tensor]

# Draws used to estimate the mean of a reference sampler that is not a ReferenceSampler (whose
# dataset is averaged exactly).
MEAN_DRAWS = 4096
_MEAN_CACHE: "weakref.WeakKeyDictionary[Any, Tensor]" = weakref.WeakKeyDictionary()


def gaussian_blur(inputs: Tensor, sigma: float = 4.0) -> Tensor:
    """Images blurred over their last two (spatial) dimensions with a Gaussian of std ``sigma``
    pixels: ``torchvision.transforms.functional.gaussian_blur`` with kernel size
    ``2 * ceil(3 sigma) + 1``, clipped to ``2 * side - 1`` (the reflect padding's limit).

    The one blur of the package: IG's ``"blur"`` baseline and the keep/remove metrics' image
    fill (:mod:`priors.evaluation.masking`: a removed pixel looks like its blurred
    neighbourhood, not a constant)."""
    from torchvision.transforms.functional import gaussian_blur as tv_blur

    if inputs.dim() < 3:
        raise ValueError(
            f"a Gaussian blur needs image inputs (B, C, H, W); got shape {tuple(inputs.shape)}. "
            "For tabular data use the 'zero' or 'mean' baseline")
    if not sigma > 0:
        raise ValueError(f"blur sigma must be > 0 pixels, got {sigma}")
    width = 2 * math.ceil(3 * sigma) + 1
    kernel = [min(width, 2 * inputs.shape[-1] - 1), min(width, 2 * inputs.shape[-2] - 1)]
    return tv_blur(inputs, kernel_size=kernel, sigma=[float(sigma), float(sigma)])


def reference_mean(references: Any, like: Tensor) -> Tensor:
    """Mean ``(*features)`` of a reference tensor ``(N, *features)`` or of a reference sampler.

    A :class:`~priors.attributions.ReferenceSampler` is averaged exactly over its whole dataset
    (once; cached per sampler); any other callable ``n -> (n, *features)`` over ``MEAN_DRAWS``
    draws.
    """
    from .expected_gradients import ReferenceSampler  # imported late: that module imports ours

    if isinstance(references, Tensor):
        mean = references.mean(0)
    elif isinstance(references, ReferenceSampler):
        mean = _MEAN_CACHE.get(references)
        if mean is None:
            mean = _dataset_mean(references)
            _MEAN_CACHE[references] = mean
    elif callable(references):
        mean = references(MEAN_DRAWS).mean(0)
    else:
        raise TypeError("references must be a tensor (N, *features) or a reference sampler "
                        f"n -> (n, *features), got {type(references).__name__}")
    if tuple(mean.shape) != tuple(like.shape[1:]):
        raise ValueError(f"the references' mean has shape {tuple(mean.shape)}, the inputs' "
                         f"features {tuple(like.shape[1:])}")
    return mean.to(device=like.device, dtype=like.dtype)


def _dataset_mean(sampler: Any) -> Tensor:
    dataset, index = sampler.dataset, sampler.input_index
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[index].double().mean(0)
    total, count = None, 0
    for batch in DataLoader(dataset, batch_size=512):
        x = torch.as_tensor(batch[index]).double()
        total = x.sum(0) if total is None else total + x.sum(0)
        count += len(x)
    return total / count


def uniform_noise(inputs: Tensor, seed: int) -> Tensor:
    """Uniform noise in each example's value range ``[min x, max x]``, from a CPU generator
    seeded with ``seed`` (so the same on every device)."""
    flat = inputs.detach().flatten(1)
    low, high = flat.min(1).values, flat.max(1).values
    shape = (-1,) + (1,) * (inputs.dim() - 1)
    generator = torch.Generator().manual_seed(int(seed))
    u = torch.rand(inputs.shape, generator=generator, dtype=inputs.dtype).to(inputs.device)
    return low.view(shape) + u * (high - low).view(shape)


def make_baseline(inputs: Tensor, baseline: Baseline = None, references: Any = None,
                  blur_sigma: float = 5.0, seed: int = 0) -> Tensor:
    """The baseline tensor shaped like ``inputs`` (constant: no graph to the inputs).

    ``baseline`` is ``None`` or ``"zero"`` (zeros), a number (that constant), a tensor
    broadcastable to ``inputs`` (e.g. a precomputed training mean), ``"mean"`` (the mean of
    ``references``, see :func:`reference_mean`), ``"blur"`` (each image blurred with
    :func:`gaussian_blur`, std ``blur_sigma`` pixels) or ``"uniform"`` (:func:`uniform_noise`
    seeded with ``seed``).
    """
    if baseline is None or (isinstance(baseline, str) and baseline == "zero"):
        return torch.zeros_like(inputs, memory_format=torch.contiguous_format).detach()
    if isinstance(baseline, str):
        if baseline == "mean":
            if references is None:
                raise ValueError("baseline='mean' needs the training data: pass references=<a "
                                 "tensor (N, *features) or a ReferenceSampler>, or pass the "
                                 "precomputed mean tensor as baseline")
            return reference_mean(references, inputs).expand_as(inputs)
        if baseline == "blur":
            return gaussian_blur(inputs.detach(), blur_sigma)
        if baseline == "uniform":
            return uniform_noise(inputs, seed)
        raise ValueError(f"unknown baseline {baseline!r}; choose one of {BASELINES}, a number "
                         "or a tensor broadcastable to the inputs")
    if not isinstance(baseline, Tensor):
        return torch.full_like(inputs, float(baseline)).detach()
    check_finite(baseline, "baseline")
    try:
        return baseline.to(inputs).expand_as(inputs)
    except RuntimeError:
        raise ValueError(
            f"baseline of shape {tuple(baseline.shape)} does not broadcast to inputs of shape "
            f"{tuple(inputs.shape)}"
        ) from None
