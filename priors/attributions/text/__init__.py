"""Attributions of text classifiers (Hugging Face ``transformers`` or any model with
``get_input_embeddings()``) on :class:`~priors.core.tokens.TokenBatch` inputs: ``(batch,
tokens)`` scores, zero on padding and special tokens, differentiable for priors.

Embedding-level: ``text_grad``, ``text_ixg``, ``text_rrr``, ``text_ig``, ``text_eg``,
``text_smoothgrad``; attention-based on encoders: ``text_raw_attention``, ``text_rollout``,
``text_gradient_weighted_attention``. The generic names (``grad``, ``ixg``, ``rrr``, ``ig``,
``eg``, ``smoothgrad``, ``rollout`` ...) called on a TokenBatch run these.
"""
from ._embed import logits_of, record_embeddings, token_scores
from .gradients import text_gradient, text_input_x_gradient, text_log_prob_gradient
from .path import text_expected_gradients, text_integrated_gradients
from .relevance import text_gradient_weighted_attention, text_raw_attention, text_rollout
from .smoothgrad import text_smoothgrad

__all__ = ["logits_of", "record_embeddings", "text_expected_gradients", "text_gradient",
           "text_gradient_weighted_attention", "text_input_x_gradient", "text_integrated_gradients",
           "text_log_prob_gradient", "text_raw_attention", "text_rollout", "text_smoothgrad",
           "token_scores"]
