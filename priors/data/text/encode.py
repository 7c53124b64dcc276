"""Texts, labels and rationale spans to the tensors of a text batch."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

Span = Sequence[int]


def spans_from_words(text: str, words: Sequence[str]) -> List[List[int]]:
    """Character spans ``[start, end)`` of every whole-word occurrence of ``words`` in
    ``text`` (a rationale given as a token list), case-insensitive."""
    spans: List[List[int]] = []
    for word in words:
        for hit in re.finditer(rf"(?<!\w){re.escape(str(word))}(?!\w)", text, re.IGNORECASE):
            spans.append([hit.start(), hit.end()])
    return spans


def check_spans(spans: Any, text: str, row: int) -> List[List[int]]:
    """Rationale spans as a list of ``[start, end)`` character offsets inside ``text``."""
    out = []
    for span in spans or []:
        if not isinstance(span, (list, tuple)) or len(span) != 2:
            raise ValueError(f"row {row}: a rationale span must be [start, end] character "
                             f"offsets, got {span!r}")
        start, end = int(span[0]), int(span[1])
        if not 0 <= start < end <= len(text):
            raise ValueError(f"row {row}: rationale span [{start}, {end}] is outside the text "
                             f"of {len(text)} characters")
        out.append([start, end])
    return out


def encode(tokenizer, texts: Sequence[str], max_length: int,
           spans: Optional[Sequence[Sequence[Span]]] = None) -> Dict[str, Tensor]:
    """Tokenized, padded and truncated to ``max_length``: ``input_ids``, ``attention_mask``,
    ``special_tokens_mask`` and, with ``spans``, ``rationale_mask`` (1 on every token whose
    characters overlap a span)."""
    enc = tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length,
                    return_special_tokens_mask=True, return_offsets_mapping=spans is not None,
                    return_tensors="pt")
    out = {k: enc[k] for k in ("input_ids", "attention_mask", "special_tokens_mask")}
    if "token_type_ids" in enc:
        out["token_type_ids"] = enc["token_type_ids"]
    if spans is not None:
        offsets = enc["offset_mapping"]  # (N, T, 2); special tokens and padding: (0, 0)
        mask = torch.zeros(offsets.shape[:2])
        for i, row in enumerate(spans):
            for start, end in row:
                hit = (offsets[i, :, 0] < end) & (offsets[i, :, 1] > start)
                mask[i] = torch.maximum(mask[i], hit.to(mask.dtype))
        out["rationale_mask"] = mask * (1 - out["special_tokens_mask"]) * out["attention_mask"]
    return out


class TextDataset(Dataset):
    """Rows of a dict of equally long tensors (``input_ids``, ``labels``, ...) as dict items,
    which the default collate stacks into dict batches."""

    def __init__(self, tensors: Dict[str, Tensor], texts: Optional[Sequence[str]] = None):
        lengths = {len(t) for t in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"TextDataset: tensors of different lengths {sorted(lengths)}")
        self.tensors, self.texts = tensors, list(texts) if texts is not None else None

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> Dict[str, Tensor]:
        return {k: t[i] for k, t in self.tensors.items()}

    def subset(self, idx) -> "TextDataset":
        idx = torch.as_tensor(idx, dtype=torch.long)
        texts = None if self.texts is None else [self.texts[i] for i in idx.tolist()]
        return TextDataset({k: t[idx] for k, t in self.tensors.items()}, texts)
