"""Reading ``(x, y[, mask])`` from a batch: one parser for PriorModule and the callbacks."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

from torch import Tensor

from .dotted import import_dotted
from .tokens import TokenBatch, check_token_mask, is_text_batch, read_text_batch

BatchFn = Callable[[Any], Any]


class Batch(NamedTuple):
    x: Tensor  # or a TokenBatch (a text batch: dict with input_ids, attention_mask, ...)
    y: Optional[Tensor]
    mask: Optional[Tensor]  # annotation mask shaped like (or broadcastable to) x, if any


def _is_mask(third: Any, x: Any) -> bool:
    """``third`` has ``x``'s batch size and axes, each other axis equal to ``x``'s or 1, and
    is not ``(B, 1, ...)`` throughout (that is one number per example: a weight, not a mask)."""
    if not (isinstance(third, Tensor) and isinstance(x, Tensor) and third.dim() == x.dim()
            and x.dim() >= 2 and third.shape[0] == x.shape[0]):
        return False
    rest, target = third.shape[1:], x.shape[1:]
    fits = all(a in (b, 1) for a, b in zip(rest, target))
    return fits and (rest == target or any(a == b != 1 for a, b in zip(rest, target)))


def _default_parts(batch: Any, who: str) -> tuple:
    if is_text_batch(batch):  # input_ids, attention_mask, labels[, rationale_mask]
        return read_text_batch(batch, who)
    if isinstance(batch, dict):
        if "x" not in batch or "y" not in batch:
            raise ValueError(f"{who}: a dict batch needs keys 'x' and 'y' (got {sorted(batch)}); "
                             "pass batch_fn=... to read your batch")
        return batch["x"], batch["y"], batch.get("mask")
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        third = batch[2] if len(batch) >= 3 else None
        # A third element is the annotation mask only if it is shaped like the inputs (or
        # broadcasts over their channels); other extras (indices, metadata, per-example
        # weights of shape (B,) or (B, 1)) are left to the user's step.
        return batch[0], batch[1], third if _is_mask(third, batch[0]) else None
    raise ValueError(f"{who}: cannot read (x, y) from a batch of type {type(batch).__name__}; "
                     "batches must be (x, y), (x, y, mask) or a dict with keys x, y[, mask] "
                     "(or pass batch_fn=lambda batch: (x, y) or (x, y, mask))")


def parse_batch(batch: Any, batch_fn: Optional[BatchFn] = None, who: str = "priors",
                need_y: bool = True) -> Batch:
    """``Batch(x, y, mask)`` from ``(x, y)``, ``(x, y, mask)``, a dict ``{x, y[, mask]}`` or
    whatever ``batch_fn(batch)`` returns (a tuple ``(x, y)`` / ``(x, y, mask)``)."""
    if batch_fn is not None:
        parts = batch_fn(batch)
        if not isinstance(parts, (tuple, list)) or len(parts) not in (2, 3):
            raise ValueError(f"{who}: batch_fn must return (x, y) or (x, y, mask), got "
                             f"{type(parts).__name__}")
        parts = (*parts, None) if len(parts) == 2 else tuple(parts)
    else:
        parts = _default_parts(batch, who)
    x, y, mask = parts
    if isinstance(x, TokenBatch):
        check_token_mask(mask, x, f"{who}: the batch's rationale_mask")
    elif not isinstance(x, Tensor):
        raise TypeError(f"{who}: the batch input x must be a tensor, got {type(x).__name__}; "
                        "pass batch_fn=... returning the input tensor")
    if y is None and need_y:
        raise TypeError(f"{who}: the batch has no labels y")
    if y is not None and not isinstance(y, Tensor):
        raise TypeError(f"{who}: labels y must be a tensor, got {type(y).__name__}")
    if mask is not None and not isinstance(mask, Tensor):
        raise TypeError(f"{who}: the annotation mask must be a tensor, got {type(mask).__name__}")
    return Batch(x, y, mask)


def resolve_callable(fn: Union[None, str, Callable], name: str) -> Optional[Callable]:
    """A callable, or one imported from a ``"package.module.function"`` path (for Hydra)."""
    if fn is None or callable(fn):
        return fn
    return import_dotted(str(fn), f"{name}={fn!r} (neither a callable nor a dotted path)")
