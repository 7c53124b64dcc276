r"""Embedding-level gradient, input x gradient and RRR's log-probability gradient of text models.

Token ids are discrete, so text attributions are taken w.r.t. the word embeddings
:math:`e_t = E[\mathrm{id}_t] \in \mathbb R^D` of each token (the embedding layer's output,
``model.get_input_embeddings()``), the model running on ``inputs_embeds``; a token's score is
the signed sum over the embedding dimension, :math:`s_t = \sum_d a_{td}` (``reduce="sum"``), or
the L2 norm :math:`\lVert a_t \rVert_2` (``"l2"``); padding and special tokens score 0.
This is the embedding-level saliency of Li, Chen, Hovy and Jurafsky, "Visualizing and
Understanding Neural Models in NLP", NAACL 2016, https://arxiv.org/abs/1506.01066 (the L2 norm
there; the dot product :math:`e_t \cdot \partial f / \partial e_t` is input x gradient, Shrikumar
et al. 2016, https://arxiv.org/abs/1605.01713 / Denil et al. 2014).

All three share the task loss's forward when the batch was recorded
(:meth:`priors.core.tokens.TokenBatch.recording`), so as priors they cost one double backward.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from ...core.targets import Target, select_output
from ..log_prob_gradient import summed_log_probs
from ..registry import register
from ._embed import checked_tokens, embed, forward_embeds, logits_of, token_scores


def embedding_gradient(model: Any, tokens, scalar_of, create_graph: bool,
                       outputs: Optional[Tensor], method: str):
    """``(embeds, d scalar_of(logits).sum() / d embeds)``, reusing a recorded forward."""
    if outputs is not None and tokens.embeds is not None:
        embeds, logits = tokens.embeds, logits_of(outputs)
    else:
        with torch.enable_grad():
            embeds = embed(model, tokens, method)
            logits = forward_embeds(model, embeds, tokens)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(scalar_of(logits).sum(), embeds,
                                      create_graph=create_graph, retain_graph=True)
    return embeds, grad


@register("text_grad", aliases=("text_gradient",), shares_forward=True, requires_embeddings=True)
def text_gradient(model: Any, inputs: Any, target: Target = None, create_graph: bool = False,
                  outputs: Optional[Tensor] = None, reduce: str = "sum") -> Tensor:
    r"""Gradient of the target logit w.r.t. the word embeddings, reduced per token: ``(B, T)``.

    Li et al., NAACL 2016 (embedding-level saliency); see the module docstring."""
    tokens = checked_tokens(inputs, "text_grad")
    _, grad = embedding_gradient(model, tokens, lambda z: select_output(z, target), create_graph,
                                 outputs, "text_grad")
    return token_scores(grad, tokens, reduce, "text_grad")


@register("text_ixg", aliases=("text_input_x_gradient",), shares_forward=True,
          requires_embeddings=True)
def text_input_x_gradient(model: Any, inputs: Any, target: Target = None,
                          create_graph: bool = False, outputs: Optional[Tensor] = None,
                          reduce: str = "sum") -> Tensor:
    r"""Input x gradient on the embeddings, :math:`s_t = \sum_d e_{td}\,\partial f/\partial e_{td}`.

    Shrikumar et al., "Not Just a Black Box", 2016, https://arxiv.org/abs/1605.01713, at the
    embedding layer; ``(B, T)``."""
    tokens = checked_tokens(inputs, "text_ixg")
    embeds, grad = embedding_gradient(model, tokens, lambda z: select_output(z, target),
                                      create_graph, outputs, "text_ixg")
    return token_scores(embeds * grad, tokens, reduce, "text_ixg")


@register("text_rrr", aliases=("text_log_prob_gradient",), shares_forward=True,
          uses_target=False, requires_embeddings=True)
def text_log_prob_gradient(model: Any, inputs: Any, create_graph: bool = False,
                           outputs: Optional[Tensor] = None, reduce: str = "l2") -> Tensor:
    r"""RRR's explanation on text: gradient of the summed log-probabilities w.r.t. the word
    embeddings, L2 norm per token (``(B, T)``).

    Ross, Hughes and Doshi-Velez, IJCAI 2017, https://arxiv.org/abs/1703.03717, Eq. 1: with the
    ``masked_l2`` penalty, :math:`\sum_t M_t \lVert \partial_{e_t} \sum_k \log \hat y_k
    \rVert_2^2` is their right-reasons term with the annotation :math:`A` per token."""
    tokens = checked_tokens(inputs, "text_rrr")
    _, grad = embedding_gradient(model, tokens, summed_log_probs, create_graph, outputs,
                                 "text_rrr")
    return token_scores(grad, tokens, reduce, "text_rrr")
