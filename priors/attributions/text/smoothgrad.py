r"""SmoothGrad on the word embeddings of a text model.

Smilkov, Thorat, Kim, Viégas and Wattenberg, "SmoothGrad: removing noise by adding noise", 2017,
https://arxiv.org/abs/1706.03825, Eq. 3: the attribution averaged over Gaussian perturbations
of the input, :math:`\hat a(e) = \frac1n \sum_{s} a(e + \varepsilon_s)`,
:math:`\varepsilon_s \sim \mathcal N(0, \sigma^2)`, with :math:`\sigma` = ``noise_level`` times
each example's range of embedding values over its scored tokens (their 10-20 % default). Noise
is added at scored tokens only (padding and special tokens keep their embedding). ``base``:
``"grad"`` (gradient) or ``"ixg"`` (noisy input x gradient, as Captum's noise tunnel does).
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from ...core.targets import Target, repeat_target, select_output
from ..registry import register
from ._embed import checked_tokens, chunk_rows, embed, forward_embeds, token_scores

BASES = ("grad", "ixg")


@register("text_smoothgrad", aliases=("text_smooth_grad",), requires_embeddings=True,
          stochastic=True)
def text_smoothgrad(model: Any, inputs: Any, target: Target = None, create_graph: bool = False,
                    base: str = "grad", n_samples: int = 15, noise_level: float = 0.15,
                    internal_batch_size: Optional[int] = None, seed: Optional[int] = None,
                    reduce: str = "sum") -> Tensor:
    """SmoothGrad of the embedding gradient (or input x gradient), ``(B, T)``."""
    tokens = checked_tokens(inputs, "text_smoothgrad")
    if base not in BASES:
        raise ValueError(f"text_smoothgrad: base must be one of {BASES}, got {base!r}")
    if not noise_level >= 0 or int(n_samples) < 1:
        raise ValueError("text_smoothgrad: needs noise_level >= 0 and n_samples >= 1, got "
                         f"{noise_level}, {n_samples}")
    n = int(n_samples)
    gen = None if seed is None else torch.Generator().manual_seed(int(seed))
    b = len(tokens)
    with torch.enable_grad():
        embeds = embed(model, tokens, "text_smoothgrad")
        keep = tokens.scored().unsqueeze(-1).to(embeds.dtype)
        big = torch.finfo(embeds.dtype).max
        hi = torch.where(keep.bool(), embeds, -big).amax((1, 2))
        lo = torch.where(keep.bool(), embeds, big).amin((1, 2))
        sigma = (noise_level * (hi - lo)).detach().view(1, b, 1, 1)
        noise = torch.randn((n, *embeds.shape), generator=gen).to(embeds) * sigma * keep
        total = torch.zeros_like(embeds)
        for rows in chunk_rows(n, internal_batch_size):
            m = rows.stop - rows.start
            points = (embeds.unsqueeze(0) + noise[rows]).reshape(m * b, *embeds.shape[1:])
            logits = forward_embeds(model, points, tokens.repeat(m))
            selected = select_output(logits, repeat_target(target, m))
            (grad,) = torch.autograd.grad(selected.sum(), points, create_graph=create_graph)
            part = grad * points if base == "ixg" else grad
            total = total + part.view(m, b, *embeds.shape[1:]).sum(0)
    return token_scores(total / n, tokens, reduce, "text_smoothgrad")
