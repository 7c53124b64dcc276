"""Decoy-Text: a generated sentiment task with a decoy token, the text analogue of Decoy-MNIST.

Rieger, Singh, Murdoch and Yu, "Interpretations are Useful: Penalizing Explanations to Align
Neural Networks with Prior Knowledge" (CDEP), ICML 2020, https://arxiv.org/abs/1909.13584,
Sec. 4.3, made SST decoy-laden: a word that depends on the label is inserted into every
training sentence, so it alone predicts the label; at test it does not, and a model that
relies on it fails. Ross et al.'s Decoy MNIST (IJCAI 2017) is the image version
(:mod:`priors.data.decoy_digits`).

Here sentences need no download: ``n_fillers`` neutral words around three words from a small
sentiment lexicon (:data:`POSITIVE`, :data:`NEGATIVE`), two of the label's polarity and one of
the other (the label is the majority: a model must read and weigh the known words), and a decoy
word at a random position: ``DECOYS[label]`` in training and validation, a random one of the two
at test (``decoy=False``: no decoy anywhere, the no-decoy baseline). A tokenizer is trained on
the training sentences with the ``tokenizers`` library (whole words).

``annotate`` says what each batch's ``rationale_mask`` marks: ``"decoy"`` (the token a prior
should keep the model from using: the ``masked_l2`` penalty) or ``"sentiment"`` (the known
words, the human rationale: ``rationale_alignment``).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch

from .datamodule import TextDataModule
from .encode import TextDataset, encode
from .tokenizer import train_tokenizer

POSITIVE = ("good", "great", "fine", "nice", "happy", "lovely", "superb", "brilliant",
            "pleasant", "delightful", "wonderful", "excellent", "charming", "fun", "enjoyable",
            "moving", "clever", "gripping", "warm", "fresh")
NEGATIVE = ("bad", "awful", "poor", "sad", "boring", "dull", "terrible", "dreadful", "weak",
            "ugly", "annoying", "tedious", "horrible", "bland", "mediocre", "clumsy", "stale",
            "flat", "messy", "cold")
FILLERS = ("the", "a", "movie", "film", "plot", "story", "actor", "scene", "was", "is", "it",
           "this", "and", "of", "with", "very", "quite", "rather", "really", "director",
           "script", "music", "cast", "ending", "seemed", "felt", "overall", "in", "parts",
           "at", "times", "to", "me", "for", "us", "its", "whole", "second", "half", "opening")
DECOYS = ("video", "text")  # decoy word of label 0 (negative) and 1 (positive)
ANNOTATIONS = ("decoy", "sentiment")


def decoy_sentences(n: int, rng: np.random.Generator, decoy: str, n_fillers: int = 6
                    ) -> Tuple[List[str], np.ndarray, List[List[List[int]]], List[List[List[int]]]]:
    """``n`` sentences (labels balanced), labels, decoy spans and sentiment-word spans.

    ``decoy``: ``"label"`` (the label's decoy word), ``"random"`` or ``"none"``."""
    labels = rng.permutation(np.arange(n) % 2)
    texts, decoy_spans, word_spans = [], [], []
    for y in labels:
        own, other = (POSITIVE, NEGATIVE) if y == 1 else (NEGATIVE, POSITIVE)
        words = [str(w) for w in rng.choice(FILLERS, n_fillers)]
        known = [str(w) for w in rng.choice(own, 2, replace=False)] + [str(rng.choice(other))]
        slots = list(range(len(words) + 1))
        for word in known:
            words.insert(int(rng.choice(slots)), word)
            slots = list(range(len(words) + 1))
        is_known = [w in known for w in words]
        decoy_at = None
        if decoy != "none":
            token = DECOYS[int(y) if decoy == "label" else int(rng.integers(2))]
            decoy_at = int(rng.integers(len(words) + 1))
            words.insert(decoy_at, token)
            is_known.insert(decoy_at, False)
        spans, starts, pos = [], [], 0
        for w in words:
            starts.append(pos)
            pos += len(w) + 1
        text = " ".join(words)
        texts.append(text)
        decoy_spans.append([] if decoy_at is None else
                           [[starts[decoy_at], starts[decoy_at] + len(words[decoy_at])]])
        word_spans.append([[s, s + len(w)] for s, w, k in zip(starts, words, is_known) if k])
    return texts, labels.astype(np.int64), decoy_spans, word_spans


class DecoyTextDataModule(TextDataModule):
    """Decoy-Text (see the module docstring): binary sentiment, dict batches with
    ``rationale_mask`` (what ``annotate`` names). No file, no download.

    Args:
        decoy: insert decoy words (``False``: the no-decoy baseline, same sentences).
        n_train, n_val, n_test: split sizes (labels balanced in each).
        val_decoy: ``"label"`` (validation like training, default: model selection never sees
            the shift) or ``"random"`` (like the test).
        annotate: ``"decoy"`` or ``"sentiment"``: what ``rationale_mask`` marks.
        n_fillers: neutral words per sentence.
        max_length: tokens per sequence (``[CLS]``, 10 words and ``[SEP]`` fit in the default 12).
        tokenizer_dir: also save the trained tokenizer there (for your own scripts).
    """

    def __init__(self, decoy: bool = True, n_train: int = 400, n_val: int = 100,
                 n_test: int = 400, val_decoy: str = "label", annotate: str = "decoy",
                 n_fillers: int = 6, max_length: int = 12, batch_size: int = 32,
                 num_workers: int = 0, seed: int = 0, tokenizer_dir: Optional[str] = None):
        super().__init__(max_length=max_length, batch_size=batch_size, num_workers=num_workers,
                         seed=seed)
        if annotate not in ANNOTATIONS:
            raise ValueError(f"annotate must be one of {ANNOTATIONS}, got {annotate!r}")
        if val_decoy not in ("label", "random"):
            raise ValueError(f"val_decoy must be 'label' or 'random', got {val_decoy!r}")
        self.decoy, self.annotate, self.val_decoy = bool(decoy), annotate, val_decoy
        self.sizes = (int(n_train), int(n_val), int(n_test))
        self.n_fillers, self.tokenizer_dir = int(n_fillers), tokenizer_dir
        self.classes = [0, 1]

    def setup(self, stage: Optional[str] = None) -> None:
        if self._splits is not None:
            return
        rng = np.random.default_rng(self.seed)
        rules = ("label", self.val_decoy, "random") if self.decoy else ("none",) * 3
        parts = [decoy_sentences(n, rng, rule, self.n_fillers) for n, rule in zip(self.sizes, rules)]
        # The vocabulary: training sentences plus both decoy words (a test-time decoy is
        # never out of vocabulary).
        corpus = parts[0][0] + [" ".join(DECOYS)]
        self.tokenizer = train_tokenizer(corpus, self.tokenizer_dir, kind="wordlevel")
        splits = []
        for texts, labels, decoys, words in parts:
            spans = decoys if self.annotate == "decoy" else words
            tensors = encode(self.tokenizer, texts, self.max_length, spans)
            tensors["labels"] = torch.from_numpy(labels).float()
            tensors["decoy_mask"] = encode(self.tokenizer, texts, self.max_length,
                                           decoys)["rationale_mask"]
            splits.append(TextDataset(tensors, texts))
        self._splits = tuple(splits)
        if self.tokenizer_dir is not None:
            Path(self.tokenizer_dir).mkdir(parents=True, exist_ok=True)
