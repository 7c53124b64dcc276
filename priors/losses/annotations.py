"""One annotation interface for every loss: masks, boxes, token rationales, reasons, fractions.

An annotation is a mask shaped like the inputs (or broadcastable to them: ``(B, 1, H, W)`` for
``(B, C, H, W)`` images, ``(B, T)`` token rationales for ``(B, T)`` token attributions or
``(B, T, D)`` embedding attributions) with values in ``[0, 1]``, and a *reason*:

* ``"wrong"``: 1 marks features the model must **not** rely on (a decoy swatch; the convention
  of the batches ``(x, y, mask)`` of this project, e.g. Decoy-Digits / Decoy-MNIST);
* ``"right"``: 1 marks features it **should** rely on (an object's box, a foreground, a rationale).

:func:`to_reason` converts one into the other (``1 - mask``); each loss declares which it reads.

**Partial annotation** (Rao et al., ICCV 2023, guide with 1 % of the images annotated): an
example without annotation carries a mask of NaN. :func:`partial_annotation` picks a fixed subset
of a training set (``annotated_fraction`` in ``(0, 1]``), :class:`PartiallyAnnotated` wraps a
dataset so that the other examples' masks are NaN, and a :class:`~priors.losses.LossPrior`
averages its loss over the annotated examples of each batch only (a batch without any costs
nothing). A prior that does not know about partial annotation (``masked_l2``) then gives a NaN
loss, which the training step reports, instead of silently penalizing unannotated examples.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from .registry import REASONS

Boxes = Union[Tensor, Sequence[Tensor]]


def check_fraction(fraction: object, name: str = "annotated_fraction") -> float:
    """``fraction`` as a float in ``(0, 1]``; ``ValueError`` otherwise."""
    try:
        value = float(fraction)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1], got {fraction!r}") from None
    if isinstance(fraction, bool) or not (0.0 < value <= 1.0) or math.isnan(value):
        raise ValueError(f"{name} must be in (0, 1] (the share of training examples that carry "
                         f"an annotation; 1 = all), got {fraction!r}")
    return value


def check_reason(reason: str) -> str:
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {REASONS} ('wrong': 1 marks features the "
                         "model must not use; 'right': features it should use), got "
                         f"{reason!r}")
    return reason


def to_reason(mask: Tensor, given: str, wanted: str) -> Tensor:
    """``mask`` of reason ``given`` as a mask of reason ``wanted`` (``1 - mask`` when they differ;
    NaN rows stay NaN)."""
    check_reason(given), check_reason(wanted)
    return mask if given == wanted else 1.0 - mask


def boxes_to_masks(boxes: Boxes, size: Tuple[int, int], dtype=torch.float32) -> Tensor:
    """Masks ``(B, 1, H, W)``, 1 inside any of each example's boxes.

    ``boxes``: a ``(B, 4)`` tensor (one box per example) or a sequence of ``B`` tensors ``(n_b,
    4)`` (``n_b`` may be 0), each box ``(x0, y0, x1, y1)`` in pixels, half-open
    (``x0 <= col < x1``), clipped to the image ``size = (H, W)``."""
    if isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must be (B, 4) or a list of (n, 4) tensors of (x0, y0, x1, "
                             f"y1), got shape {tuple(boxes.shape)}")
        boxes = [b.unsqueeze(0) for b in boxes]
    if boxes is None or len(boxes) == 0:
        raise ValueError("boxes: need one entry (a possibly empty (n, 4) tensor) per example, "
                         "got none")
    h, w = int(size[0]), int(size[1])
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    masks = torch.zeros(len(boxes), 1, h, w, dtype=dtype)
    for b, example in enumerate(boxes):
        example = torch.as_tensor(example).reshape(-1, 4).float()
        if bool((example[:, 2] < example[:, 0]).any() | (example[:, 3] < example[:, 1]).any()):
            raise ValueError(f"boxes of example {b}: need x0 <= x1 and y0 <= y1, got "
                             f"{example.tolist()}")
        x0, y0, x1, y1 = (example[:, i].view(-1, 1, 1) for i in range(4))
        inside = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
        masks[b, 0] = inside.any(0).to(dtype)
    return masks


def tokens_to_masks(rationales: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
    """Per-token rationales ``(B, T)`` (bool or 0/1; 1 on the rationale) as a float mask ``(B,
    T)``; padding positions (``attention_mask == 0``) are set to 0."""
    if not isinstance(rationales, Tensor) or rationales.dim() != 2:
        shape = tuple(rationales.shape) if isinstance(rationales, Tensor) else type(rationales)
        raise ValueError(f"token rationales must be a (batch, tokens) tensor, got {shape}")
    mask = rationales.float()
    if attention_mask is not None:
        if attention_mask.shape != rationales.shape:
            raise ValueError(f"attention_mask {tuple(attention_mask.shape)} must be shaped like "
                             f"the rationales {tuple(rationales.shape)}")
        mask = mask * (attention_mask != 0)
    return mask


def annotated_rows(mask: Tensor) -> Tensor:
    """``(B,)`` bool: the examples that carry an annotation (a mask row that is not all NaN)."""
    return ~torch.isnan(mask.reshape(mask.shape[0], -1)).all(1)


def check_mask(mask: Tensor, inputs: Tensor, who: str = "annotation mask") -> None:
    """A mask with the inputs' batch size that broadcasts to the inputs (per-token rationales
    ``(B, T)`` also fit embeddings ``(B, T, D)``), with values in [0, 1] or NaN."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{who} must be a tensor, got {type(mask).__name__}")
    ok = mask.dim() >= 1 and mask.shape[0] == inputs.shape[0]
    if ok:
        m = mask if mask.dim() == inputs.dim() else mask.reshape(*mask.shape,
                                                                 *([1] * (inputs.dim() - mask.dim())))
        try:
            torch.broadcast_shapes(m.shape, inputs.shape)
        except RuntimeError:
            ok = False
        ok = ok and mask.dim() <= inputs.dim()
    if not ok:
        raise ValueError(f"{who} of shape {tuple(mask.shape)} does not fit inputs of shape "
                         f"{tuple(inputs.shape)}: expected the inputs' shape, one broadcastable "
                         "to it (e.g. (B, 1, H, W) for (B, C, H, W) images), or (B, T) token "
                         "rationales for (B, T[, D]) inputs")
    finite = mask[~torch.isnan(mask)]
    if finite.numel() and (float(finite.min()) < 0 or float(finite.max()) > 1):
        raise ValueError(f"{who} values must lie in [0, 1] (NaN: example not annotated), got "
                         f"[{float(finite.min())}, {float(finite.max())}]")


def fit_mask(mask: Tensor, like: Tensor) -> Tensor:
    """``mask`` on the grid of ``like`` (an attribution): the same or a broadcastable shape is
    kept; a ``(B, T)`` rationale gets a trailing axis for ``(B, T, D)``; an image mask for a
    feature map of another size becomes the share of each cell it covers (area average; the
    channels pooled by their maximum), ``(B, 1, h, w)``."""
    if mask.dim() < like.dim() and mask.shape == like.shape[:mask.dim()]:
        mask = mask.reshape(*mask.shape, *([1] * (like.dim() - mask.dim())))
    if mask.dim() == 4 and like.dim() == 4 and mask.shape[2:] != like.shape[2:]:
        mask = F.adaptive_avg_pool2d(mask.amax(1, keepdim=True), like.shape[2:])
    try:
        torch.broadcast_shapes(mask.shape, like.shape)
    except RuntimeError:
        raise ValueError(f"annotation mask of shape {tuple(mask.shape)} does not fit "
                         f"attributions of shape {tuple(like.shape)}") from None
    return mask.to(like)


def partial_annotation(n: int, fraction: float, seed: int = 0) -> Tensor:
    """``(n,)`` bool: a fixed random subset of ``round(fraction * n)`` examples (at least one)
    that carry annotations."""
    fraction = check_fraction(fraction)
    count = max(1, int(round(fraction * n)))
    chosen = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))[:count]
    flags = torch.zeros(n, dtype=torch.bool)
    flags[chosen] = True
    return flags


class PartiallyAnnotated(Dataset):
    """``dataset`` of ``(x, y, mask)`` whose examples outside a fixed ``annotated_fraction``
    subset carry a NaN mask (no annotation)."""

    def __init__(self, dataset: Dataset, annotated_fraction: float = 1.0, seed: int = 0):
        self.dataset = dataset
        self.annotated_fraction = check_fraction(annotated_fraction)
        self.annotated = partial_annotation(len(dataset), self.annotated_fraction, seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        x, y, mask = self.dataset[index]
        if not bool(self.annotated[index]):
            mask = torch.full_like(mask, float("nan"))
        return x, y, mask
