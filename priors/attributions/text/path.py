r"""Integrated Gradients and Expected Gradients on the word embeddings of a text model.

**Integrated Gradients** (Sundararajan, Taly and Yan, "Axiomatic Attribution for Deep Networks",
ICML 2017, https://arxiv.org/abs/1703.01365, Eq. 1) at the embedding layer, with the baseline
:math:`e'` the pad token's (or mask token's, or zero) embedding at every scored position:

.. math:: a_{td} = (e_{td} - e'_{td}) \int_0^1 \frac{\partial f_y(e' + \alpha (e - e'))}
          {\partial e_{td}}\, d\alpha, \qquad \sum_t s_t = f_y(e) - f_y(e')

(completeness, their Prop. 1, for the signed token sums :math:`s_t = \sum_d a_{td}`). Special
tokens and padding keep their own embedding in the baseline, so their attribution is zero. The
integral uses the quadrature of :func:`priors.attributions.integrated_gradients.quadrature`.

**Expected Gradients** (Erion, Janizek, Sturmfels, Lundberg and Lee, "Improving performance of
deep learning models with axiomatic attribution priors and expected gradients", Nature Machine
Intelligence 2021, https://arxiv.org/abs/1906.10670, Eq. 4): IG averaged over references
:math:`e'` drawn from the training data and :math:`\alpha \sim U(0, 1)`, one sample each,
:math:`a = \mathbb E_{e', \alpha}[(e - e') \odot \nabla f_y(e' + \alpha(e - e'))]`. A
reference here is another training sequence's word embeddings *at the same positions* (its
ids padded or truncated to the batch's length); by default the other sequences of the batch.
"""
from __future__ import annotations

from typing import Any, Optional, Union

import torch
from torch import Tensor

from ...core.tokens import TokenBatch
from ...core.targets import Target, repeat_target, select_output
from ..integrated_gradients import quadrature
from ..registry import register
from ._embed import (_baseline_id, baseline_embeds, checked_tokens, chunk_rows, embed,
                     embedding_layer, forward_embeds, token_scores)


def _path_gradients(model: Any, tokens: TokenBatch, starts: Tensor, deltas: Tensor,
                    alphas: Tensor, target: Target, create_graph: bool) -> Tensor:
    """Gradients at ``starts + alphas * deltas`` (all ``(S * B, T, D)``, S copies of the
    batch stacked), ``(S * B, T, D)``."""
    copies = len(starts) // len(tokens)
    points = starts + alphas.view(-1, 1, 1) * deltas
    if not points.requires_grad:
        points.requires_grad_(True)
    logits = forward_embeds(model, points, tokens.repeat(copies))
    selected = select_output(logits, repeat_target(target, copies))
    (grad,) = torch.autograd.grad(selected.sum(), points, create_graph=create_graph)
    return grad


@register("text_ig", aliases=("text_integrated_gradients",), requires_embeddings=True)
def text_integrated_gradients(model: Any, inputs: Any, target: Target = None,
                              create_graph: bool = False, n_steps: int = 64,
                              rule: str = "gausslegendre",
                              internal_batch_size: Optional[int] = None,
                              baseline_token: Union[str, int] = "pad",
                              reduce: str = "sum") -> Tensor:
    """Integrated Gradients on the word embeddings (pad / mask / zero baseline), ``(B, T)``.

    ``rule``: the quadrature rule (as :func:`~priors.attributions.integrated_gradients.quadrature`);
    ``internal_batch_size``: quadrature points per forward (default all ``n_steps``)."""
    tokens = checked_tokens(inputs, "text_ig")
    alphas, weights = quadrature(int(n_steps), rule)
    b = len(tokens)
    with torch.enable_grad():
        embeds = embed(model, tokens, "text_ig")
        base = baseline_embeds(model, tokens, embeds, baseline_token, "text_ig")
        delta = embeds - base
        total = torch.zeros_like(embeds)
        for rows in chunk_rows(len(alphas), internal_batch_size):
            k = rows.stop - rows.start
            a = torch.as_tensor(alphas[rows], dtype=embeds.dtype, device=embeds.device)
            w = torch.as_tensor(weights[rows], dtype=embeds.dtype, device=embeds.device)
            grad = _path_gradients(model, tokens, base.repeat(k, 1, 1), delta.repeat(k, 1, 1),
                                   a.repeat_interleave(b), target, create_graph)
            total = total + (grad.view(k, b, *embeds.shape[1:]) * w.view(k, 1, 1, 1)).sum(0)
        attr = delta * total
    return token_scores(attr, tokens, reduce, "text_ig")


def aligned_reference_ids(tokens: TokenBatch, references: Optional[Any], k: int, pad_id: int,
                          generator: Optional[torch.Generator]) -> Tensor:
    """``(k * B, T)`` reference ids, row ``j * B + b`` for example ``b``: drawn from
    ``references`` (a TokenBatch or ``(N, L)`` id tensor; right-padded with ``pad_id`` or
    truncated to ``T``), or by default example ``(b + j + 1) mod B`` of the batch itself."""
    b, t = tokens.shape
    if references is None:
        if b < 2:
            raise ValueError("text_eg: with references=None the references are the other "
                             "sequences of the batch, so the batch needs >= 2 examples; pass "
                             "references=<TokenBatch of training sequences>")
        idx = (torch.arange(b).repeat(k) + torch.arange(1, k + 1).repeat_interleave(b)) % b
        idx = torch.where(idx == torch.arange(b).repeat(k), (idx + 1) % b, idx)
        return tokens.input_ids[idx.to(tokens.device)]
    ids = references.input_ids if isinstance(references, TokenBatch) else references
    if not isinstance(ids, Tensor) or ids.is_floating_point() or ids.dim() != 2:
        raise TypeError("text_eg: references must be a TokenBatch or an integer (N, tokens) "
                        f"tensor of token ids, got {type(references).__name__}")
    ids = ids.to(tokens.device)
    if ids.shape[1] < t:
        ids = torch.cat([ids, ids.new_full((len(ids), t - ids.shape[1]), pad_id)], 1)
    draw = torch.randint(len(ids), (k * b,), generator=generator)
    return ids[draw.to(ids.device), :t]


@register("text_eg", aliases=("text_expected_gradients",), requires_embeddings=True,
          stochastic=True)
def text_expected_gradients(model: Any, inputs: Any, target: Target = None,
                            create_graph: bool = False, references: Any = None, k: int = 1,
                            internal_batch_size: Optional[int] = None,
                            seed: Optional[int] = None, reduce: str = "sum") -> Tensor:
    """Expected Gradients on the word embeddings, references = other training sequences at the
    same positions (default: the batch's other sequences), ``k`` samples each; ``(B, T)``."""
    tokens = checked_tokens(inputs, "text_eg")
    if int(k) < 1:
        raise ValueError(f"text_eg: k must be >= 1, got {k}")
    k = int(k)
    gen = None if seed is None else torch.Generator().manual_seed(int(seed))
    layer = embedding_layer(model, "text_eg")
    b = len(tokens)
    pad_id = _baseline_id(model, "pad", "text_eg") if references is not None else 0
    ref_ids = aligned_reference_ids(tokens, references, k, pad_id, gen)
    alphas = torch.rand(k * b, generator=gen)
    with torch.enable_grad():
        embeds = embed(model, tokens, "text_eg")
        keep = tokens.scored().unsqueeze(-1).repeat(k, 1, 1)
        stacked = embeds.repeat(k, 1, 1)
        refs = torch.where(keep, layer(ref_ids).to(embeds.dtype), stacked)
        deltas = stacked - refs
        alphas = alphas.to(embeds)
        parts = []
        for rows in chunk_rows(k, internal_batch_size):
            r = slice(rows.start * b, rows.stop * b)
            grad = _path_gradients(model, tokens, refs[r], deltas[r], alphas[r], target,
                                   create_graph)
            parts.append(deltas[r] * grad)
        attr = torch.cat(parts).view(k, b, *embeds.shape[1:]).mean(0)
    return token_scores(attr, tokens, reduce, "text_eg")
