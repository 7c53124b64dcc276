"""Hugging Face sequence classifiers as priors models: built from a config (random init, no
download) or loaded from a local directory, called on :class:`~priors.core.tokens.TokenBatch`.

``transformers`` is an optional dependency (``pip install priors[text]``); it is imported when
a classifier is built.
"""
from __future__ import annotations

from typing import Any, Optional

from torch import Tensor, nn

from ..core.tokens import TokenBatch

ARCHITECTURES = ("bert", "distilbert", "roberta")


class TextClassifier(nn.Module):
    """A Hugging Face ``...ForSequenceClassification`` model that takes a :class:`TokenBatch`
    and returns the logits tensor (what :class:`~priors.PriorModule` expects of a model).

    A batch made by :meth:`TokenBatch.recording` is run on its word embeddings, which are kept
    in ``tokens.embeds``, so gradient priors reuse the task loss's forward.

    Args:
        hf: the Hugging Face model (``hf.get_input_embeddings()`` is the attributed layer).
        pad_token_id, mask_token_id: the tokenizer's ids for the ``pad`` / ``mask`` baselines
            (default: the model config's ``pad_token_id``; the config has no mask id).
    """

    def __init__(self, hf: nn.Module, pad_token_id: Optional[int] = None,
                 mask_token_id: Optional[int] = None):
        super().__init__()
        self.hf = hf
        config = getattr(hf, "config", None)
        self.pad_token_id = pad_token_id if pad_token_id is not None else getattr(
            config, "pad_token_id", None)
        self.mask_token_id = mask_token_id

    def get_input_embeddings(self) -> nn.Module:
        return self.hf.get_input_embeddings()

    def forward(self, tokens: Any, attention_mask: Optional[Tensor] = None) -> Tensor:
        if isinstance(tokens, Tensor):
            tokens = TokenBatch(tokens, attention_mask)
        if not isinstance(tokens, TokenBatch):
            raise TypeError(f"TextClassifier takes a TokenBatch (or input_ids and "
                            f"attention_mask), got {type(tokens).__name__}")
        if tokens.record:
            embeds = self.get_input_embeddings()(tokens.input_ids)
            # A frozen embedding layer: the attribution still needs a graph input.
            tokens.embeds = embeds if embeds.requires_grad else embeds.detach().requires_grad_()
            return self.forward_embeddings(tokens.embeds, tokens)
        return self.hf(input_ids=tokens.input_ids, **tokens.model_kwargs()).logits

    def forward_embeddings(self, embeds: Tensor, tokens: TokenBatch) -> Tensor:
        """Logits with ``embeds`` ``(B, T, D)`` in place of the tokens' word embeddings."""
        return self.hf(inputs_embeds=embeds, **tokens.model_kwargs()).logits


def hf_text_classifier(vocab_size: int, num_classes: int, architecture: str = "bert",
                       hidden_size: int = 64, num_layers: int = 2, num_heads: int = 2,
                       intermediate_size: int = 128, max_length: int = 128,
                       dropout: float = 0.1, pad_token_id: int = 0,
                       mask_token_id: Optional[int] = None,
                       pretrained: Optional[str] = None,
                       initializer_range: float = 0.02) -> TextClassifier:
    """A randomly initialized ``architecture`` classifier of the given size (CPU-sized by
    default: 2 layers, dim 64), or ``from_pretrained(pretrained)`` when ``pretrained`` is a
    local directory (no download: ``local_files_only``). ``num_classes=1`` is one logit
    (binary task). Attention is eager so that attention maps can be explained.
    ``initializer_range``: standard deviation of the random init (BERT's 0.02)."""
    import transformers

    if pretrained is not None:
        hf = transformers.AutoModelForSequenceClassification.from_pretrained(
            pretrained, num_labels=num_classes, local_files_only=True,
            attn_implementation="eager")
        return TextClassifier(hf, mask_token_id=mask_token_id)
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    common = dict(vocab_size=int(vocab_size), num_labels=int(num_classes),
                  pad_token_id=int(pad_token_id), attn_implementation="eager",
                  initializer_range=float(initializer_range))
    if architecture == "distilbert":
        config = transformers.DistilBertConfig(
            dim=hidden_size, n_layers=num_layers, n_heads=num_heads, hidden_dim=intermediate_size,
            max_position_embeddings=max_length, dropout=dropout, attention_dropout=dropout,
            **common)
    else:
        cls = transformers.BertConfig if architecture == "bert" else transformers.RobertaConfig
        extra = {"max_position_embeddings": max_length + 2} if architecture == "roberta" else {
            "max_position_embeddings": max_length}
        config = cls(hidden_size=hidden_size, num_hidden_layers=num_layers,
                     num_attention_heads=num_heads, intermediate_size=intermediate_size,
                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                     **extra, **common)
    hf = transformers.AutoModelForSequenceClassification.from_config(config)
    return TextClassifier(hf, mask_token_id=mask_token_id)
