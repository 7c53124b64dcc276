"""The text model call inside an unmodified ``training_step``: Hugging Face models are called
with keyword arguments (``model(**batch)``), which :class:`~.capture.ModelCapture` cannot see,
so the text path hooks the model itself (with its keyword arguments) and its embedding layer."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

import pytorch_lightning as pl
from torch import nn

from ..attributions.text import logits_of, record_embeddings
from ..core.tokens import TokenBatch


def find_text_model(pl_module: pl.LightningModule, pinned: Optional[nn.Module]) -> nn.Module:
    """``pinned``, else the outermost submodule with ``get_input_embeddings()`` (a Hugging
    Face ``PreTrainedModel`` or a :class:`priors.models.TextClassifier`)."""
    if pinned is not None:
        return pinned
    for _, module in pl_module.named_modules():
        if module is pl_module:
            continue
        get = getattr(module, "get_input_embeddings", None)
        try:
            layer = get() if callable(get) else None
        except (NotImplementedError, AttributeError):
            layer = None
        if isinstance(layer, nn.Module):
            return module
    raise TypeError(f"AttributionPrior: the batch holds token ids (input_ids), but no submodule "
                    f"of {type(pl_module).__name__} has get_input_embeddings(), which the text "
                    "methods attribute at; use a Hugging Face PreTrainedModel (or "
                    "priors.models.TextClassifier), or pin model='<submodule>'")


class TextCapture:
    """Records the first call of ``model`` on ``tokens.input_ids`` (positional or
    ``input_ids=``): its output, and (``record``) its word embeddings in ``tokens.embeds``."""

    def __init__(self, model: nn.Module, tokens: TokenBatch, record: bool):
        self.model, self.tokens, self.record = model, tokens, record
        self.output: Any = None

    def _post(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if self.output is None and ids is self.tokens.input_ids:
            self.output = output

    @contextlib.contextmanager
    def active(self) -> Iterator["TextCapture"]:
        handle = self.model.register_forward_hook(self._post, with_kwargs=True)
        try:
            with (record_embeddings(self.model, self.tokens) if self.record
                  else contextlib.nullcontext()):
                yield self
        finally:
            handle.remove()

    def logits(self, who: str):
        if self.output is None:
            raise RuntimeError(f"{who}: the training_step never called "
                               f"{type(self.model).__name__} on the batch's input_ids, so there "
                               "are no logits to attribute; call it with input_ids=batch["
                               "'input_ids'] (or pin model='<submodule>')")
        return logits_of(self.output)
