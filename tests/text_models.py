"""Tiny random-init Hugging Face classifiers and token batches for the text tests."""
from __future__ import annotations

import torch

from priors.core.tokens import TokenBatch
from priors.models import hf_text_classifier

VOCAB = 40


def tiny_bert(num_classes: int = 2, architecture: str = "bert", hidden: int = 64,
              layers: int = 2, seed: int = 0, dtype=torch.float64, init: float = 0.3,
              vocab: int = VOCAB):
    """A random-init classifier (2 layers, dim 64 by default) without dropout, in eval mode,
    with a wide init so that logits differ clearly between inputs and baselines."""
    torch.manual_seed(seed)
    model = hf_text_classifier(vocab, num_classes, architecture=architecture, hidden_size=hidden,
                               num_layers=layers, num_heads=2, intermediate_size=2 * hidden,
                               max_length=16, dropout=0.0, pad_token_id=0, mask_token_id=4,
                               initializer_range=init)  # outputs that vary with the tokens
    return model.to(dtype).eval()


def token_batch(lengths=(10, 7, 4), width: int = 10, seed: int = 1) -> TokenBatch:
    """``[CLS] w ... w [SEP] [PAD] ...`` rows (ids: pad 0, cls 2, sep 3, words 5..VOCAB-1)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    special = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(5, VOCAB, (n,), generator=g)
        ids[i, 0], ids[i, n - 1] = 2, 3
        special[i, [0, n - 1]] = 1
        special[i, n:] = 1
    mask = (torch.arange(width) < torch.tensor(lengths).unsqueeze(1)).long()
    return TokenBatch(ids, mask, special_tokens_mask=special)
