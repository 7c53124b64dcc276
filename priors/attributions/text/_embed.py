"""Shared pieces of the text methods: the embedding layer, the forward from embeddings, the
logits of a Hugging Face output, baselines, and token scores from embedding-level attributions."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional, Union

import torch
from torch import Tensor, nn

from ...core.outputs import select_logits
from ...core.tokens import TokenBatch, check_tokens

REDUCTIONS = ("sum", "l2")
BASELINES = ("pad", "mask", "zero")


def logits_of(outputs: Any) -> Tensor:
    """The logits of a model output (a tensor, a ``ModelOutput`` / dict with ``logits``, or a
    tuple whose first element is the logits): :func:`priors.core.outputs.select_logits`."""
    return select_logits(outputs)


def checked_tokens(inputs: Any, method: str) -> TokenBatch:
    """The method's inputs as a :class:`TokenBatch`, or a clear error."""
    if isinstance(inputs, dict) and "input_ids" in inputs:
        if "attention_mask" not in inputs:
            raise ValueError(f"{method}: the text inputs have no attention_mask; pass a dict "
                             "with input_ids and attention_mask (1 on tokens, 0 on padding)")
        inputs = TokenBatch(inputs["input_ids"], inputs["attention_mask"],
                            inputs.get("token_type_ids"), inputs.get("special_tokens_mask"))
    if isinstance(inputs, Tensor):
        kind = "integer token ids" if not inputs.is_floating_point() else "a float tensor"
        raise TypeError(f"{method} attributes w.r.t. the input embeddings of a text model and "
                        f"needs TokenBatch(input_ids, attention_mask) inputs, got {kind} of shape "
                        f"{tuple(inputs.shape)}; token ids cannot be differentiated, so wrap "
                        "them: priors.core.tokens.TokenBatch(input_ids, attention_mask)")
    if not isinstance(inputs, TokenBatch):
        raise TypeError(f"{method} needs TokenBatch inputs, got {type(inputs).__name__}")
    check_tokens(inputs, f"{method} inputs")
    return inputs


def embedding_layer(model: Any, method: str) -> nn.Module:
    """``model.get_input_embeddings()``: the token embedding the attributions are taken at."""
    get = getattr(model, "get_input_embeddings", None)
    layer = get() if callable(get) else None
    if not isinstance(layer, nn.Module):
        raise TypeError(f"{method} attributes w.r.t. input embeddings: the model must have "
                        "get_input_embeddings() returning its token embedding (any Hugging Face "
                        f"PreTrainedModel, or priors.models.TextClassifier); "
                        f"{type(model).__name__} has none")
    return layer


def embed(model: Any, tokens: TokenBatch, method: str) -> Tensor:
    """Word embeddings ``(B, T, D)`` of the tokens (a graph input even for a frozen layer)."""
    out = embedding_layer(model, method)(tokens.input_ids)
    return out if out.requires_grad else out.detach().requires_grad_(True)


def forward_embeds(model: Any, embeds: Tensor, tokens: TokenBatch) -> Tensor:
    """Logits of the model with ``embeds`` in place of the word embeddings of ``tokens``."""
    own = getattr(model, "forward_embeddings", None)
    if callable(own):
        return logits_of(own(embeds, tokens))
    return logits_of(model(inputs_embeds=embeds, **tokens.model_kwargs()))


@contextlib.contextmanager
def record_embeddings(model: Any, tokens: TokenBatch) -> Iterator[TokenBatch]:
    """Within the context, the first forward of the model's embedding layer on
    ``tokens.input_ids`` stores its output in ``tokens.embeds`` (made a graph input if the
    layer is frozen), so a gradient method can reuse the step's own forward."""
    layer = embedding_layer(model, "record_embeddings")

    def hook(module, args, output):
        if tokens.embeds is None and args and args[0] is tokens.input_ids:
            if not output.requires_grad:
                output = output.detach().requires_grad_(True)
            tokens.embeds = output
            return output
        return None

    handle = layer.register_forward_hook(hook)
    try:
        yield tokens
    finally:
        handle.remove()


def baseline_embeds(model: Any, tokens: TokenBatch, embeds: Tensor,
                    baseline: Union[str, int], method: str) -> Tensor:
    """Baseline embeddings: the pad / mask token's embedding (or zero, or token id ``baseline``)
    at every scored position; special tokens and padding keep their own embedding, so their
    attribution is exactly zero and completeness holds over the scored tokens."""
    if baseline == "zero":
        fill = torch.zeros_like(embeds[:1, :1])
    else:
        token_id = _baseline_id(model, baseline, method)
        ids = torch.full_like(tokens.input_ids[:1, :1], token_id)
        fill = embedding_layer(model, method)(ids).to(embeds.dtype)
    keep = tokens.scored().unsqueeze(-1)
    return torch.where(keep, fill.expand_as(embeds), embeds)


def _baseline_id(model: Any, baseline: Union[str, int], method: str) -> int:
    if isinstance(baseline, int) and not isinstance(baseline, bool):
        return baseline
    if baseline not in BASELINES:
        raise ValueError(f"{method}: baseline_token must be one of {BASELINES} or a token id, "
                         f"got {baseline!r}")
    attr = f"{baseline}_token_id"
    value = getattr(model, attr, None)
    if value is None:
        value = getattr(getattr(model, "config", None), attr, None)
    if value is None:
        raise ValueError(f"{method}: baseline_token={baseline!r} needs the model's {attr} (not "
                         "set on the model nor its config); pass baseline_token=<token id> or "
                         "'zero'")
    return int(value)


def token_scores(attributions: Tensor, tokens: TokenBatch, reduce: str, method: str) -> Tensor:
    """``(B, T)`` token scores from ``(B, T, D)`` embedding attributions: the signed sum over
    the embedding dimension (``"sum"``: completeness carries over) or its L2 norm (``"l2"``);
    zero on padding and special tokens."""
    if reduce == "sum":
        scores = attributions.sum(-1)
    elif reduce == "l2":
        # sqrt has an infinite derivative at 0: a tiny floor keeps double backward finite.
        scores = (attributions.pow(2).sum(-1) + 1e-24).sqrt()
    else:
        raise ValueError(f"{method}: reduce must be one of {REDUCTIONS}, got {reduce!r}")
    return scores * tokens.scored().to(scores.dtype)


def chunk_rows(n: int, size: Optional[int]) -> list:
    size = n if size is None else int(size)
    if size < 1:
        raise ValueError(f"internal_batch_size must be >= 1, got {size}")
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]
