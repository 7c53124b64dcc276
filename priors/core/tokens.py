"""Token-id inputs of text classifiers: one batch object for the methods, the prior and the module.

A text batch is a dict of tensors as Hugging Face collators make it (``input_ids``,
``attention_mask``, optional ``token_type_ids``, ``special_tokens_mask``, ``labels`` and a
per-token annotation ``rationale_mask``). The attribution methods need more than one tensor
(the ids and the attention mask that says which positions are tokens), so they receive a
:class:`TokenBatch`; :func:`read_text_batch` turns a dict batch into ``(tokens, labels, mask)``
for :func:`priors.batch.parse_batch`.

Torch only: the methods that use it live in :mod:`priors.attributions.text`.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor

__all__ = ["TokenBatch", "check_tokens", "is_text_batch", "read_text_batch"]

_LABEL_KEYS = ("labels", "label", "y")


class TokenBatch:
    """Token ids, attention mask and what the attribution methods read from a text batch.

    Args:
        input_ids: ``(B, T)`` integer token ids.
        attention_mask: ``(B, T)``, 1 on tokens, 0 on padding. Required: it says which
            positions carry tokens (scores are zero elsewhere, and the model must not attend
            to padding).
        token_type_ids: optional ``(B, T)`` segment ids, passed to the model.
        special_tokens_mask: optional ``(B, T)``, 1 on special tokens (``[CLS]``, ``[SEP]``):
            they keep their embedding in every baseline and get zero scores, like padding.

    ``embeds`` is set by a forward that records its word embeddings (:meth:`recording`), so
    that a gradient method can reuse the task loss's forward.
    """

    def __init__(self, input_ids: Tensor, attention_mask: Optional[Tensor],
                 token_type_ids: Optional[Tensor] = None,
                 special_tokens_mask: Optional[Tensor] = None):
        self.input_ids = input_ids
        self.attention_mask = attention_mask
        self.token_type_ids = token_type_ids
        self.special_tokens_mask = special_tokens_mask
        self.record = False
        self.embeds: Optional[Tensor] = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def __repr__(self) -> str:
        return f"TokenBatch(input_ids={tuple(self.input_ids.shape)})"

    @property
    def shape(self) -> torch.Size:
        return self.input_ids.shape

    @property
    def device(self) -> torch.device:
        return self.input_ids.device

    def _map(self, fn) -> "TokenBatch":
        return TokenBatch(*(None if t is None else fn(t) for t in (
            self.input_ids, self.attention_mask, self.token_type_ids, self.special_tokens_mask)))

    def to(self, *args: Any, **kwargs: Any) -> "TokenBatch":
        return self._map(lambda t: t.to(*args, **kwargs))

    def __getitem__(self, rows) -> "TokenBatch":
        """The examples ``rows`` (an index, slice or index tensor), batch dimension kept."""
        if isinstance(rows, int):
            rows = slice(rows, rows + 1)
        return self._map(lambda t: t[rows])

    def repeat(self, times: int) -> "TokenBatch":
        """``times`` consecutive copies of the batch (rows ``k * B + b``)."""
        return self._map(lambda t: t.repeat(times, *([1] * (t.dim() - 1))))

    def recording(self) -> "TokenBatch":
        """A copy whose forward through :class:`priors.models.TextClassifier` (or under
        :func:`priors.attributions.text.record_embeddings`) keeps its word embeddings."""
        out = self._map(lambda t: t)
        out.record = True
        return out

    def scored(self) -> Tensor:
        """``(B, T)`` bool: positions that get a score (tokens, not padding nor special)."""
        keep = self.attention_mask.bool()
        if self.special_tokens_mask is not None:
            keep = keep & ~self.special_tokens_mask.bool()
        return keep

    def model_kwargs(self) -> Dict[str, Tensor]:
        """Keyword arguments of a Hugging Face model's forward (without the ids)."""
        kwargs = {"attention_mask": self.attention_mask}
        if self.token_type_ids is not None:
            kwargs["token_type_ids"] = self.token_type_ids
        return kwargs


def is_text_batch(batch: Any) -> bool:
    """A dict batch of token ids (``input_ids`` key)."""
    return isinstance(batch, Mapping) and "input_ids" in batch


def read_text_batch(batch: Mapping[str, Any], who: str = "priors"
                    ) -> Tuple[TokenBatch, Optional[Tensor], Optional[Tensor]]:
    """``(tokens, labels, rationale_mask)`` of a dict batch; labels under ``labels``/``label``/``y``.

    Missing ``attention_mask`` is an error: without it padding cannot be told from tokens."""
    if "attention_mask" not in batch:
        raise ValueError(f"{who}: the text batch has no 'attention_mask' (keys {sorted(batch)}); "
                         "tokenize with padding and return_attention_mask=True (1 on tokens, 0 on "
                         "padding): the prior needs it to exclude padding from the attributions")
    tokens = TokenBatch(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"),
                        batch.get("special_tokens_mask"))
    labels = next((batch[k] for k in _LABEL_KEYS if k in batch), None)
    return tokens, labels, batch.get("rationale_mask")


def check_tokens(tokens: TokenBatch, name: str = "inputs") -> None:
    """Integer ids ``(B, T)`` and an attention mask of the same shape, a non-empty batch."""
    ids, mask = tokens.input_ids, tokens.attention_mask
    if not isinstance(ids, Tensor) or ids.is_floating_point() or ids.dim() != 2:
        raise TypeError(f"{name}: input_ids must be an integer tensor (batch, tokens), got "
                        f"{getattr(ids, 'dtype', type(ids).__name__)} of shape "
                        f"{tuple(getattr(ids, 'shape', ()))}")
    if mask is None:
        raise ValueError(f"{name}: the text batch has no attention_mask; pass one of shape "
                         f"{tuple(ids.shape)} (1 on tokens, 0 on padding)")
    for key in ("attention_mask", "token_type_ids", "special_tokens_mask"):
        t = getattr(tokens, key)
        if t is not None and tuple(t.shape) != tuple(ids.shape):
            raise ValueError(f"{name}: {key} has shape {tuple(t.shape)} but input_ids "
                             f"{tuple(ids.shape)}; they must match (one entry per token)")
    if ids.shape[0] == 0:
        raise ValueError(f"{name}: empty batch (0 examples)")
    if not bool(mask.bool().any(1).all()):
        raise ValueError(f"{name}: some sequences have an all-zero attention_mask (no tokens)")


def check_token_mask(mask: Optional[Tensor], tokens: TokenBatch, name: str = "rationale_mask"
                     ) -> None:
    """An annotation mask must have one entry per token: ``(B, T)`` like ``input_ids``."""
    if mask is not None and tuple(mask.shape) != tuple(tokens.shape):
        raise ValueError(f"{name} has shape {tuple(mask.shape)} but the batch's input_ids "
                         f"{tuple(tokens.shape)}: it needs one entry per token (tokenize the "
                         "rationale with the same padding/truncation as the text)")
