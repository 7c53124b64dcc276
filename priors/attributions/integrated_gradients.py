"""Integrated Gradients with Riemann and Gauss-Legendre quadrature."""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from ..core.checks import check_batched
from ..core.targets import Target, repeat_target, select_output
from .baselines import Baseline, make_baseline
from .registry import register

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")
# The quadrature rule was called ``method`` (Captum's name), which is also the key that names
# the attribution method (``Prior("ig", ..., method=...)`` could not pass it).
RENAMED = {"method": "rule"}


def quadrature(n_steps: int, rule: str = "gausslegendre") -> Tuple[np.ndarray, np.ndarray]:
    """Nodes ``alpha`` in [0, 1] and weights (summing to 1) of an ``n_steps``-point rule."""
    if n_steps < 1 or (rule == "riemann_trapezoid" and n_steps < 2):
        raise ValueError(f"n_steps must be >= 1 (>= 2 for riemann_trapezoid), got {n_steps}")
    n = n_steps
    if rule == "riemann_left":
        alphas, weights = np.arange(n) / n, np.full(n, 1.0 / n)
    elif rule == "riemann_right":
        alphas, weights = np.arange(1, n + 1) / n, np.full(n, 1.0 / n)
    elif rule == "riemann_middle":
        alphas, weights = (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)
    elif rule == "riemann_trapezoid":
        alphas = np.linspace(0.0, 1.0, n)
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] = 0.5 / (n - 1)
    elif rule == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(n)
        alphas, weights = (nodes + 1.0) / 2.0, w / 2.0
    else:
        raise ValueError(f"unknown quadrature rule {rule!r}; choose one of {RULES}")
    return alphas, weights


def _refuse_renamed(fn: Callable) -> Callable:
    """Direct calls with an old keyword fail naming the new one (the registry's
    ``check_hparams`` says the same for calls through it)."""

    @functools.wraps(fn)  # the registry reads the hyperparameters through __wrapped__
    def call(*args: Any, **kwargs: Any) -> Tensor:
        for old, new in RENAMED.items():
            if old in kwargs:
                raise TypeError(f"{fn.__name__}: the quadrature rule is now called {new}= "
                                f"({old}= names the attribution method): pass {new}="
                                f"{kwargs[old]!r}")
        return fn(*args, **kwargs)

    return call


@register("ig", aliases=("integrated_gradients",), renamed=RENAMED)
@_refuse_renamed
def integrated_gradients(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    baseline: Baseline = None,
    target: Target = None,
    n_steps: int = 128,
    rule: str = "gausslegendre",
    internal_batch_size: Optional[int] = None,
    create_graph: bool = False,
    references: Any = None,
    blur_sigma: float = 5.0,
    seed: int = 0,
) -> Tensor:
    r"""Integrated Gradients along the straight path from ``baseline`` to ``inputs``:

    .. math:: \mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1
              \frac{\partial f_t(x' + \alpha (x - x'))}{\partial x_i} \, d\alpha
              \approx (x_i - x'_i) \sum_m w_m \, \partial_i f_t(x' + \alpha_m (x - x'))

    Sundararajan, Taly and Yan, "Axiomatic Attribution for Deep Networks", ICML 2017,
    https://arxiv.org/abs/1703.01365. Satisfies completeness up to quadrature error:
    :math:`\sum_i \mathrm{IG}_i \approx f_t(x) - f_t(x')`.

    Args:
        baseline: ``None`` or ``"zero"`` (zeros), a scalar, a tensor broadcastable to
            ``inputs``, ``"mean"`` (mean of ``references``: the training mean), ``"blur"`` (the
            input blurred by a Gaussian of std ``blur_sigma`` pixels; images only) or
            ``"uniform"`` (uniform noise in each example's value range, seeded by ``seed``);
            see :func:`priors.attributions.baselines.make_baseline`.
        n_steps: number of quadrature nodes.
        rule: the quadrature rule, one of ``riemann_left``, ``riemann_right``,
            ``riemann_middle``, ``riemann_trapezoid``, ``gausslegendre`` (Captum calls this
            ``method``; here ``method`` names the attribution method). Nodes and weights equal
            Captum's for the left, right, middle and Gauss-Legendre rules; for the trapezoid rule
            the nodes are Captum's but the weights differ: ours are the trapezoid rule's (summing
            to 1), Captum's are ``1/n`` with halved end weights, summing to ``(n - 1) / n``.
        internal_batch_size: at most this many interpolated examples per forward/backward,
            bounding memory; ``None`` evaluates all ``n_steps * B`` points at once.
        create_graph: keep the graph for a penalty on the attributions (double backward).
        references: training inputs (tensor or sampler) for ``baseline="mean"``.
        blur_sigma: std in pixels of the ``"blur"`` baseline's Gaussian (kernel
            ``2 ceil(3 sigma) + 1``, clipped to the image).
        seed: seed of the ``"uniform"`` baseline's noise.
    """
    check_batched(inputs)
    base = make_baseline(inputs, baseline, references=references, blur_sigma=blur_sigma,
                         seed=seed)
    alphas, weights = quadrature(n_steps, rule)
    batch = inputs.shape[0]
    if internal_batch_size is None:
        steps_per_chunk = n_steps
    else:
        if internal_batch_size < batch:
            raise ValueError(
                f"internal_batch_size ({internal_batch_size}) must be >= the batch size ({batch})"
            )
        steps_per_chunk = max(1, internal_batch_size // batch)
    diff = inputs - base
    shape = (-1,) + (1,) * inputs.dim()
    total = torch.zeros_like(inputs)
    for start in range(0, n_steps, steps_per_chunk):
        a = torch.as_tensor(alphas[start : start + steps_per_chunk], dtype=inputs.dtype,
                            device=inputs.device).view(shape)
        w = torch.as_tensor(weights[start : start + steps_per_chunk], dtype=inputs.dtype,
                            device=inputs.device).view(shape)
        steps = a.shape[0]
        points = (base.unsqueeze(0) + a * diff.unsqueeze(0)).reshape(steps * batch, *inputs.shape[1:])
        if not points.requires_grad:
            points.requires_grad_(True)
        selected = select_output(model(points), repeat_target(target, steps))
        (grads,) = torch.autograd.grad(selected.sum(), points, create_graph=create_graph)
        total = total + (w * grads.view(steps, *inputs.shape)).sum(0)
    # Without create_graph the result is a constant: no partial graph through the inputs.
    return (diff if create_graph else diff.detach()) * total
