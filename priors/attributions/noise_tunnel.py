"""SmoothGrad, SmoothGrad-squared and VarGrad: any registered method averaged over noisy inputs."""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from ..core.checks import check_batched
from ..core.targets import Target, chunks, interleave_target, slice_target
from .registry import get_method, register

AGGREGATES = ("mean", "mean_square", "variance")


def noise_tunnel(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    target: Target = None,
    base: str = "grad",
    aggregate: str = "mean",
    n_samples: int = 15,
    noise_level: float = 0.15,
    internal_batch_size: Optional[int] = None,
    seed: Optional[int] = None,
    create_graph: bool = False,
    references: Any = None,
    baseline: Any = None,
) -> Tensor:
    r"""Aggregate of ``base`` attributions over ``n_samples`` noisy copies of each input:

    .. math:: a(x) = \mathrm{agg}_{s=1..n}\ \mathrm{base}(x + \varepsilon_s),\quad
              \varepsilon_s \sim \mathcal N(0, \sigma^2),\ \sigma = \mathrm{noise\_level}
              \cdot (\max x - \min x)

    with the range taken per example, ``agg`` the mean (SmoothGrad), the mean of squares
    (SmoothGrad-squared) or the variance (VarGrad, the population variance
    :math:`\overline{(a - \bar a)^2}`, computed centred: never negative, exactly 0 when the
    samples agree). Smilkov et al., "SmoothGrad: removing noise by adding
    noise", 2017, https://arxiv.org/abs/1706.03825; SmoothGrad-squared and VarGrad as in Hooker,
    Erhan, Kindermans and Kim, "A Benchmark for Interpretability Methods in Deep Neural Networks",
    NeurIPS 2019 (their defaults, kept here: ``noise_level=0.15``, ``n_samples=15``); VarGrad:
    Adebayo et al., "Local explanation methods for deep neural networks lack sensitivity to
    parameter values", ICLR workshop 2018.

    Args:
        base: the registered method to smooth (``grad``, ``xg``, ``ig``, ``eg``, ...).
        aggregate: ``mean``, ``mean_square`` or ``variance``.
        n_samples: noisy copies per example.
        noise_level: noise standard deviation as a fraction of each example's value range.
        internal_batch_size: at most this many noisy inputs per call of ``base`` (bounds
            memory); ``None`` evaluates all ``B * n_samples`` at once.
        seed: seed of the noise (``None``: torch's global generator).
        create_graph: differentiable w.r.t. the parameters (a training prior).
        references: passed to ``base`` when it takes them (Expected Gradients, IG's ``mean``).
        baseline: passed to ``base`` when it takes one (Integrated Gradients).

    Captum's ``NoiseTunnel`` draws the same noise (``torch.normal`` of shape
    ``(B * n_samples, *features)``, examples repeated in a row) from the global generator when
    ``seed=None``, but with one absolute std for all examples.
    """
    check_batched(inputs)
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    if n_samples < 1 or (aggregate == "variance" and n_samples < 2):
        raise ValueError(f"n_samples must be >= 1 (>= 2 for the variance), got {n_samples}")
    if not noise_level >= 0:
        raise ValueError(f"noise_level must be >= 0, got {noise_level}")
    method = get_method(base)
    batch, feature_shape = inputs.shape[0], inputs.shape[1:]
    flat = inputs.detach().flatten(1)
    sigma = noise_level * (flat.max(1).values - flat.min(1).values)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=inputs.device).manual_seed(int(seed))
    noise = torch.randn((batch, n_samples, *feature_shape), generator=generator,
                        device=inputs.device, dtype=inputs.dtype)
    noise = noise * sigma.view(batch, 1, *([1] * len(feature_shape)))
    noisy = (inputs.unsqueeze(1) + noise).reshape(batch * n_samples, *feature_shape)
    targets = interleave_target(target, n_samples)
    parts = [method(model, noisy[rows], slice_target(targets, rows), create_graph=create_graph,
                    references=references, baseline=baseline)
             for rows in chunks(len(noisy), internal_batch_size)]
    attr = torch.cat(parts).view(batch, n_samples, *feature_shape)
    if aggregate == "mean":
        return attr.mean(1)
    if aggregate == "mean_square":
        return (attr * attr).mean(1)
    # Centred, unlike E[a^2] - E[a]^2, which cancels catastrophically when the samples agree.
    return (attr - attr.mean(1, keepdim=True)).pow(2).mean(1)


def _variant(name: str, aggregate: str, doc: str) -> Callable:
    def method(model, inputs, target=None, base: str = "grad", n_samples: int = 15,
               noise_level: float = 0.15, internal_batch_size: Optional[int] = None,
               seed: Optional[int] = None, create_graph: bool = False, references: Any = None,
               baseline: Any = None):
        return noise_tunnel(model, inputs, target, base=base, aggregate=aggregate,
                            n_samples=n_samples, noise_level=noise_level,
                            internal_batch_size=internal_batch_size, seed=seed,
                            create_graph=create_graph, references=references,
                            baseline=baseline)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"{doc}: :func:`noise_tunnel` with ``aggregate={aggregate!r}``."
    return method


# needs_references: the wrapped method may be Expected Gradients; the registry then passes the
# caller's references through (others ignore them).
smoothgrad = register("smoothgrad", aliases=("smooth_grad",), stochastic=True)(
    _variant("smoothgrad", "mean", "SmoothGrad (Smilkov et al. 2017)"))
smoothgrad_sq = register("smoothgrad_sq", aliases=("smoothgrad_squared",), stochastic=True)(
    _variant("smoothgrad_sq", "mean_square", "SmoothGrad-squared (Hooker et al. 2019)"))
vargrad = register("vargrad", stochastic=True)(
    _variant("vargrad", "variance", "VarGrad (Adebayo et al. 2018)"))
