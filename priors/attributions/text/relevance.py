r"""Attention-based token maps of Hugging Face encoders: raw attention, rollout, and the
gradient-weighted attention rule, from the CLS row.

They read the attention probabilities :math:`A^{(l)}` (``(B, heads, T, T)``) that a Hugging Face
encoder returns with ``output_attentions=True`` (eager attention: build the model with
``attn_implementation="eager"``; :func:`priors.models.hf_text_classifier` does), and give
``(B, T)`` token scores: the row of the first token (``[CLS]``, whose final state the
classification head reads), zero on padding and special tokens.

* **Raw attention**: head mean of the last layer's attention (class-agnostic).
* **Rollout** (Abnar and Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020,
  https://arxiv.org/abs/2005.00928): :math:`\hat A^{(l)} = \operatorname{rownorm}
  (\mathbb E_h A^{(l)} + I)`, :math:`\tilde A = \hat A^{(L)} \cdots \hat A^{(1)}`. Each factor
  is row-stochastic, so every row of the product sums to 1 after every layer: the relevance of
  the CLS row is conserved layer by layer.
* **Gradient-weighted attention** (Chefer, Gur and Wolf, "Generic Attention-model
  Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers", ICCV 2021,
  https://arxiv.org/abs/2103.15679, Eqs. 5-6): :math:`R \leftarrow R + \mathbb E_h[(\nabla
  A^{(l)} \odot A^{(l)})^+] R` from :math:`R = I`, with :math:`\nabla A^{(l)}` the gradient of
  the target logit; differentiable (one double backward), so it can be a relevance prior.

Chefer et al.'s CVPR 2021 *transformer attribution* (LRP through the encoder) is not
implemented for Hugging Face encoders here.
"""
from __future__ import annotations

from typing import Any, List, Tuple

import torch
from torch import Tensor

from ...core.tokens import TokenBatch
from ...core.targets import Target, select_output
from ..registry import register
from ._embed import checked_tokens, logits_of


def hf_model(model: Any) -> Any:
    """The Hugging Face model inside a :class:`priors.models.TextClassifier` (or the model)."""
    return getattr(model, "hf", model)


def attention_forward(model: Any, tokens: TokenBatch, method: str) -> Tuple[Tensor, List[Tensor]]:
    """Logits and the per-layer attention probabilities (autograd on)."""
    net = hf_model(model)
    with torch.enable_grad():
        out = net(input_ids=tokens.input_ids, output_attentions=True, **tokens.model_kwargs())
    attentions = getattr(out, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        raise ValueError(f"{method} needs the encoder's attention probabilities, but "
                         f"{type(net).__name__} returned none with output_attentions=True; "
                         "build it with attn_implementation='eager' (or call "
                         "model.set_attn_implementation('eager'))")
    return logits_of(out), list(attentions)


def cls_scores(matrix: Tensor, tokens: TokenBatch, create_graph: bool) -> Tensor:
    """Row of the first token of ``(B, T, T)``, zero on padding and special tokens."""
    row = matrix[:, 0, :] * tokens.scored().to(matrix.dtype)
    return row if create_graph else row.detach()


def rollout_steps(attentions: List[Tensor], mask: Tensor) -> List[Tensor]:
    r"""The rollout after each layer, :math:`\hat A^{(l)} \cdots \hat A^{(1)}`, ``(B, T, T)``
    each. Padded keys get no attention from the model, so the identity is added on tokens only
    (rows of padding stay identity rows)."""
    out, joint = [], None
    for attn in attentions:
        eye = torch.eye(attn.shape[-1], dtype=attn.dtype, device=attn.device)
        step = attn.mean(1) * mask.unsqueeze(1) + eye
        step = step / step.sum(-1, keepdim=True)
        joint = step if joint is None else step @ joint
        out.append(joint)
    return out


@register("text_raw_attention", uses_target=False, requires_embeddings=True)
def text_raw_attention(model: Any, inputs: Any, create_graph: bool = False) -> Tensor:
    """Head mean of the last layer's attention, CLS row: ``(B, T)`` (class-agnostic)."""
    tokens = checked_tokens(inputs, "text_raw_attention")
    _, attentions = attention_forward(model, tokens, "text_raw_attention")
    return cls_scores(attentions[-1].mean(1), tokens, create_graph)


@register("text_rollout", uses_target=False, requires_embeddings=True)
def text_rollout(model: Any, inputs: Any, create_graph: bool = False) -> Tensor:
    """Attention rollout (Abnar & Zuidema 2020), CLS row: ``(B, T)`` (class-agnostic)."""
    tokens = checked_tokens(inputs, "text_rollout")
    _, attentions = attention_forward(model, tokens, "text_rollout")
    mask = tokens.attention_mask.to(attentions[0].dtype)
    return cls_scores(rollout_steps(attentions, mask)[-1], tokens, create_graph)


@register("text_gradient_weighted_attention", requires_embeddings=True)
def text_gradient_weighted_attention(model: Any, inputs: Any, target: Target = None,
                                     create_graph: bool = False) -> Tensor:
    """Gradient-weighted attention rule (Chefer et al., ICCV 2021) on a Hugging Face encoder,
    CLS row: ``(B, T)``; differentiable for relevance priors."""
    tokens = checked_tokens(inputs, "text_gradient_weighted_attention")
    logits, attentions = attention_forward(model, tokens, "text_gradient_weighted_attention")
    with torch.enable_grad():
        grads = torch.autograd.grad(select_output(logits, target).sum(), attentions,
                                    create_graph=create_graph, retain_graph=create_graph)
        joint = None
        for grad, attn in zip(grads, attentions):
            step = (grad * attn).clamp(min=0).mean(1)
            if joint is None:
                joint = torch.eye(attn.shape[-1], dtype=attn.dtype, device=attn.device) + step
            else:
                joint = joint + step @ joint
    return cls_scores(joint, tokens, create_graph)
