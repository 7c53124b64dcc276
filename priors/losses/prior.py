"""LossPrior: any registered explanation-regularization loss as a training prior."""
from __future__ import annotations

import weakref
from typing import Any, Callable, Dict, Optional

from torch import Tensor

from ..core.checks import check_weight
from ..core.norm_stats import frozen_running_stats
from ..training.prior import Prior, PriorOutput
from .annotations import annotated_rows, check_mask, check_reason, to_reason
from .registry import LossSpec, get_loss


class LossPrior(Prior):
    """``weight * mean over annotated examples of loss(model, x, ...)``, for any loss of
    :func:`~priors.losses.available_losses`.

    A sibling of :class:`~priors.Prior` with the same running interface (``forward_inputs``,
    ``penalize``, ``compute``, call), so :class:`~priors.PriorModule`, the
    :class:`~priors.callbacks.AttributionPrior` callback and the cost monitor run it unchanged.
    The difference: a loss is not ``penalty(attribution)``; it may read annotations of either
    reason, guide a layer, or run the model again on modified inputs (its registry entry says).

    Args:
        method: the loss's name (``hint``, ``energy``, ``cdep``, ...; named ``method`` so that
            configs and reports treat it like an attribution prior).
        weight: multiplier of the loss.
        reason: what the batches' masks mark: ``"wrong"`` (1 = features the model must not use,
            this project's Decoy datasets) or ``"right"`` (1 = features it should use). Each
            loss reads the reason it needs; the other is converted (``1 - mask``).
        target: ``"label"`` or ``"pred"``: which logit losses on one output explain.
        warmup_steps: linear warm-up of the weight, as for :class:`~priors.Prior`.
        **hparams: the loss's hyperparameters (unknown names fail, listing the valid ones).

    Partial annotation: examples whose mask is NaN carry no annotation
    (:mod:`priors.losses.annotations`); the loss is averaged over the annotated examples of the
    batch, computed on those alone, and is 0 (no work) in a batch without any.
    """

    def __init__(self, method: str = "hint", weight: float = 1.0, reason: str = "wrong",
                 target: str = "label", warmup_steps: int = 0, **hparams: Any):
        spec: LossSpec = get_loss(method)
        self.spec = spec
        self.method = spec.name
        self.hparams: Dict[str, Any] = spec.check_hparams(hparams)
        self.penalty_name = spec.name
        self.penalty_fn = None
        self.penalty_options: Dict[str, Any] = {}
        self.weight = check_weight(weight)
        if isinstance(warmup_steps, bool) or not float(warmup_steps).is_integer() \
                or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)
        if target not in ("label", "pred"):
            raise ValueError(f"target must be 'label' or 'pred', got {target!r}")
        self.target = target
        self.reason = check_reason(reason)
        self.check_homogeneity = False
        self.trusted_layers = ()
        self._verified: weakref.WeakSet = weakref.WeakSet()

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.hparams.items())
        return f"LossPrior(method={self.method!r}, weight={self.weight}{extra})"

    def penalize(self, model: Callable[[Tensor], Tensor], inputs: Tensor, outputs: Tensor,
                 y: Optional[Tensor] = None, mask: Optional[Tensor] = None, references=None,
                 create_graph: bool = True, step: Optional[int] = None) -> PriorOutput:
        """The loss at ``inputs`` (reusing ``outputs`` where the loss shares the forward),
        averaged over the annotated examples; ``attributions`` holds the per-example values."""
        spec = self.spec
        if spec.requires_vit:
            from ..models.vit import ViT  # lazy: the ViT pulls in more than most runs need
            if not isinstance(model, ViT):
                raise ValueError(f"loss {self.method!r} explains a priors.models.ViT, got "
                                 f"{type(model).__name__}")
        rows = None
        if spec.needs_annotations:
            if mask is None:
                raise ValueError(
                    f"loss {self.method!r} needs annotations ({spec.annotations!r} reasons: a "
                    "mask shaped like the inputs, or boxes/token rationales converted with "
                    "priors.losses.boxes_to_masks / tokens_to_masks), but the batch has none: "
                    "batches must be (x, y, mask)")
            check_mask(mask, inputs)
            mask = to_reason(mask, self.reason, spec.annotations)
            rows = annotated_rows(mask)
        target = self.attribution_target(outputs, y) if spec.uses_target else None
        if rows is not None and not bool(rows.all()):
            if not bool(rows.any()):
                zero = outputs.new_zeros(())
                return PriorOutput(outputs, outputs.new_zeros(len(inputs)), zero, zero)
            idx = rows.nonzero().flatten()
            sub = _rows(target, idx)
            with frozen_running_stats(model):
                values = spec(model, inputs.detach()[idx], sub, create_graph=create_graph,
                              labels=_rows(y, idx), annotations=mask[idx])
        else:
            with frozen_running_stats(model):
                values = spec(model, inputs, target, create_graph=create_graph, outputs=outputs,
                              labels=y, annotations=mask)
        penalty = values.mean()
        return PriorOutput(outputs, values, penalty, self.weight_at(step) * penalty)


def _rows(value, idx: Tensor):
    return value[idx] if isinstance(value, Tensor) and value.dim() else value


def make_loss_prior(method: str = "hint", weight: float = 1.0, **kwargs) -> LossPrior:
    """Factory for configs (``conf/prior/<loss>.yaml``)."""
    return LossPrior(method, weight, **kwargs)


__all__ = ["LossPrior", "make_loss_prior"]
