"""Text classification datamodule: CSV / JSONL files with optional rationale spans, tokenized
with a local tokenizer, stratified train / val / test splits, dict batches.

Each row has a ``text``, a ``label`` and optionally a rationale (column ``rationale``): a list
of ``[start, end)`` character spans, or a list of words (every whole-word occurrence is
marked). In CSV files the rationale cell holds JSON (``"[[0, 4]]"`` or ``'["dull"]'``).
Batches are dicts: ``input_ids``, ``attention_mask``, ``special_tokens_mask`` (and
``token_type_ids`` if the tokenizer makes them), ``labels`` (float 0/1 for two classes,
int64 class indices otherwise; :mod:`priors.data.contract`) and ``rationale_mask`` (1 on
tokens overlapping a span; all zero without rationales).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import pytorch_lightning as pl
import torch
from sklearn.model_selection import train_test_split

from ..loaders import InMemoryLoaders
from .encode import TextDataset, check_spans, encode, spans_from_words
from .tokenizer import load_tokenizer

FORMATS = (".csv", ".jsonl", ".json")


def read_rows(path: str | Path, text_column: str = "text", label_column: str = "label",
              rationale_column: str = "rationale") -> Tuple[List[str], List[Any], List[Any]]:
    """``(texts, labels, rationales)`` from a CSV or JSON-lines file (rationale ``None`` where
    absent)."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(f"text data file {str(path)!r}: expected one of {FORMATS}")
    if not path.is_file():
        raise FileNotFoundError(f"text data file {str(path)!r} does not exist")
    if path.suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(path, keep_default_na=False)
        rows = frame.to_dict("records")
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    missing = [c for c in (text_column, label_column) if rows and c not in rows[0]]
    if missing or not rows:
        raise ValueError(f"text data file {str(path)!r} needs columns {text_column!r} and "
                         f"{label_column!r}; missing {missing or 'all rows'}")
    texts = [str(r[text_column]) for r in rows]
    labels = [r[label_column] for r in rows]
    rationales = []
    for r in rows:
        value = r.get(rationale_column)
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else None
        rationales.append(value)
    return texts, labels, rationales


def rationale_spans(texts: Sequence[str], rationales: Sequence[Any]) -> List[List[List[int]]]:
    """Character spans per row from spans or word lists."""
    out = []
    for i, (text, value) in enumerate(zip(texts, rationales)):
        if value and all(isinstance(v, str) for v in value):
            out.append(spans_from_words(text, value))
        else:
            out.append(check_spans(value, text, i))
    return out


class TextDataModule(InMemoryLoaders, pl.LightningDataModule):
    """Text classification from a CSV / JSONL file (see the module docstring).

    Args:
        path: the data file (``.csv``, ``.jsonl``).
        tokenizer: a local tokenizer directory (``AutoTokenizer.from_pretrained``, local files
            only) or a tokenizer object.
        max_length: tokens per sequence after padding / truncation (with ``[CLS]``/``[SEP]``).
        val_fraction, test_fraction: stratified split fractions (by label, seeded).
        text_column, label_column, rationale_column: column names.
        batch_size, num_workers, seed: loaders and split.
    """

    def __init__(self, path: Optional[str] = None, tokenizer: Any = None, max_length: int = 64,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, batch_size: int = 32,
                 num_workers: int = 0, seed: int = 0, text_column: str = "text",
                 label_column: str = "label", rationale_column: str = "rationale"):
        super().__init__()
        self.path, self.tokenizer_source = path, tokenizer
        self.max_length, self.batch_size = int(max_length), batch_size
        self.val_fraction, self.test_fraction = float(val_fraction), float(test_fraction)
        self.num_workers, self.seed = num_workers, seed
        self.columns = (text_column, label_column, rationale_column)
        self._splits: Optional[Tuple[TextDataset, TextDataset, TextDataset]] = None
        self.tokenizer = None
        self.classes: List[Any] = []

    # --- what a subclass may override ------------------------------------------------------
    def load(self) -> Tuple[List[str], List[Any], List[Any]]:
        """``(texts, labels, rationales)``; default: read ``path``."""
        if self.path is None:
            raise ValueError("TextDataModule needs path=<a .csv or .jsonl file>")
        return read_rows(self.path, *self.columns)

    def make_tokenizer(self, texts: Sequence[str]):
        """The tokenizer: ``tokenizer`` as given or loaded from its local directory."""
        if self.tokenizer_source is None:
            raise ValueError("TextDataModule needs tokenizer=<local tokenizer directory>")
        if isinstance(self.tokenizer_source, (str, Path)):
            return load_tokenizer(self.tokenizer_source)
        return self.tokenizer_source

    def split(self, y: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stratified ``(train, val, test)`` row indices."""
        idx = np.arange(n)
        counts = np.bincount(y)
        if counts[counts > 0].min() < 3:
            raise ValueError(f"stratified split: every class needs >= 3 rows, class counts "
                             f"{counts.tolist()}")
        rest, test = train_test_split(idx, test_size=self.test_fraction, stratify=y,
                                      random_state=self.seed)
        train, val = train_test_split(rest, test_size=self.val_fraction / (1 - self.test_fraction),
                                      stratify=y[rest], random_state=self.seed)
        return np.sort(train), np.sort(val), np.sort(test)

    # --- the contract ------------------------------------------------------------------------
    def setup(self, stage: Optional[str] = None) -> None:
        if self._splits is not None:
            return
        texts, labels, rationales = self.load()
        self.tokenizer = self.make_tokenizer(texts)
        self.classes = sorted(set(labels), key=str)
        y = np.array([self.classes.index(v) for v in labels], dtype=np.int64)
        spans = rationale_spans(texts, rationales)
        tensors = encode(self.tokenizer, texts, self.max_length, spans)
        tensors["labels"] = (torch.from_numpy(y).float() if len(self.classes) == 2
                             else torch.from_numpy(y))
        full = TextDataset(tensors, texts)
        self._splits = tuple(full.subset(i) for i in self.split(y, len(texts)))

    def _split(self, i: int) -> TextDataset:
        if self._splits is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() first")
        return self._splits[i]

    @property
    def train_dataset(self) -> TextDataset:
        return self._split(0)

    @property
    def val_dataset(self) -> TextDataset:
        return self._split(1)

    @property
    def test_dataset(self) -> TextDataset:
        return self._split(2)

    @property
    def task(self) -> str:
        return "binary" if len(self.classes) <= 2 else "multiclass"

    @property
    def num_classes(self) -> int:
        return 1 if self.task == "binary" else len(self.classes)

    @property
    def num_features(self) -> int:
        """Tokens per example (``model.max_length=auto``)."""
        return self.max_length

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def mask_token_id(self) -> Optional[int]:
        mask = getattr(self.tokenizer, "mask_token_id", None)
        return None if mask is None else int(mask)
