"""One regularized training step: the pieces PriorModule, the callbacks and the benchmarks share."""
from __future__ import annotations

import weakref
from typing import Callable, NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn

from .prior import Prior, PriorOutput
from ..core.targets import is_single_output
from ..core.task import task_loss


class StepLoss(NamedTuple):
    loss: Tensor  # task loss + weighted penalty: what is back-propagated
    task_loss: Tensor
    prior: Optional[PriorOutput]  # None without a prior
    split: Optional["SplitDecision"] = None  # penalty, then task loss? (backward_to_parameters)


def prior_step_loss(model: Callable[[Tensor], Tensor], prior: Optional[Prior], x: Tensor,
                    y: Tensor, task: str, mask: Optional[Tensor] = None, references=None,
                    step: Optional[int] = None, check_labels: bool = True,
                    check_inputs: bool = True) -> StepLoss:
    """Forward (shared with the attribution when the method allows), task loss and penalty.

    ``step`` is the global step (for penalties with a weight warm-up); ``check_labels=False``
    and ``check_inputs=False`` when the caller validated the batch already."""
    if prior is None:
        outputs = model(x)
        loss = task_loss(outputs, y, task, check=check_labels)
        return StepLoss(loss, loss, None)
    xin = prior.forward_inputs(x, check=check_inputs)
    out = prior.penalize(model, xin, model(xin), y, mask, references, step=step)
    routed = _outputs_through_attributions(prior, model, out, task)
    tl = task_loss(out.outputs if routed is None else routed, y, task, check=check_labels)
    split = _split_decision(prior, model) if routed is None else _NO_SPLIT
    return StepLoss(tl + out.weighted, tl, out, split)


def _outputs_through_attributions(prior: Prior, model, out: PriorOutput,
                                  task: str) -> Optional[Tensor]:
    """The model's outputs, with their gradient routed through the attributions' graph; None
    where that is not exact.

    For a *complete* method on a single-logit model (X-Gradient on a verified X-DNN), an
    example's attributions sum to its output at every value of the parameters:
    :math:`f(x;\\theta) = \\sum_i x_i\\,\\partial f / \\partial x_i(x;\\theta)` (Euler's theorem
    for homogeneous functions). Both sides then have the same gradient with respect to the
    parameters, so the task loss can take its gradient through the attributions' graph,
    which the penalty's gradient traverses anyway, and the backward through the forward graph
    drops out of the step. The value stays the model's output (``outputs.detach() + (s -
    s.detach())``), so the loss, its logs and the metrics are unchanged. On the NHANES X-MLP
    the XG step went from about 2.4x to 1.8x the unregularized step (issue 13,
    ``benchmarks/prior_step_cost.py``). A multi-class loss needs every logit, the attributions
    explain one: no shortcut there.
    """
    outputs, attributions = out.outputs, out.attributions
    if task != "binary" or not prior.spec.complete or not attributions.requires_grad:
        return None
    if not is_single_output(outputs):
        return None
    # Unverified (check_homogeneity=False, a plain callable), the identity is only a promise.
    if prior.requires_xdnn and not prior.is_verified(model):
        return None
    if attributions.shape[0] != outputs.shape[0]:
        return None
    total = attributions.flatten(1).sum(1).reshape(outputs.shape)
    return outputs.detach() + (total - total.detach()).to(outputs.dtype)


class SplitDecision:
    """Whether back-propagating the penalty and the task loss one after the other pays for a
    prior on a model: ``pays`` is None until the first split backward has watched for it."""

    def __init__(self, pays: Optional[bool] = None) -> None:
        self.pays = pays

    def __repr__(self) -> str:
        return f"SplitDecision(pays={self.pays})"


_NO_SPLIT = SplitDecision(False)  # (never watched, so never changed)

# prior -> model -> decision: the graphs are built alike at every step, so one look decides.
_DECISIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


# What the split saves is one parameter-sized buffer per step, what it costs is a second call
# into autograd's engine: below this much trainable-parameter memory it does not pay (measured
# on CPU: X-AlexNet's 219 MiB, 2.4x -> 2.1x; X-VGG16 at 17 MiB and X-ResNet-50 at 6 MiB even;
# the NHANES X-MLP at 0.3 MiB a few percent slower).
SPLIT_MIN_BYTES = 16 * 2**20


def _split_decision(prior: Prior, model) -> SplitDecision:
    try:  # (every step: no new objects on the way)
        per_model = _DECISIONS.get(prior)
        if per_model is None:
            per_model = _DECISIONS[prior] = weakref.WeakKeyDictionary()
        decision = per_model.get(model)
    except TypeError:  # not weak-referenceable: no memory, the split is never tried
        return _NO_SPLIT
    if decision is None:
        params = model.parameters() if isinstance(model, nn.Module) else ()
        size = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
        decision = per_model[model] = SplitDecision(None if size >= SPLIT_MIN_BYTES else False)
    return decision


def _forward_nodes(task: Tensor) -> list:
    """The task loss's autograd nodes that lead somewhere other than a parameter: the work a
    backward through the forward graph does (a weight's transpose or view is not)."""
    seen, stack, out = set(), [task.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        nexts = [fn for fn, _ in node.next_functions if fn is not None]
        if any(type(fn).__name__ != "AccumulateGrad" for fn in nexts):
            out.append(node)
        stack.extend(nexts)
    return out


def backward_to_parameters(loss: Tensor, parameters: Sequence[nn.Parameter], *args,
                           step: Optional[StepLoss] = None, **kwargs) -> None:
    """``loss.backward()`` restricted to ``parameters``; with ``step`` (the :class:`StepLoss`
    ``loss`` was made from), the penalty and the task loss are back-propagated one after the
    other. The gradients are those of ``loss.backward()`` either way.

    *Restricted*: with a shared forward the batch input is a leaf that requires grad, so a
    plain backward also computes d loss / d x through the first layer (for a conv net, a full
    transposed convolution of the input's size) and stores it in ``x.grad``, which nobody reads.

    *Split*: in one backward, every weight receives two gradient contributions, one through the
    attribution's graph and one through the forward graph; autograd holds the first of each
    until the second arrives and sums them out of place, so for a while every weight has two
    parameter-sized gradients. Back-propagating the penalty first stores its contributions as
    ``.grad``, and the task loss then adds into them in place: on X-AlexNet (57M parameters)
    the XG step's peak memory drops from about 2.2x to 1.7-2.0x the unregularized step's, and
    its time from 2.4x to 2.0x (issue 13, ``benchmarks/prior_step_cost.py``).

    The split is used only where it pays and is exact and safe:

    - the model's trainable parameters take at least ``SPLIT_MIN_BYTES`` (below, the second
      call into autograd costs more than the buffer it saves);
    - the penalty's gradient does not flow through the forward graph (``step.split``, watched
      in the first split backward of each prior on each model, then remembered): true for
      gradient-based priors on the project's piecewise-linear models; false for RRR, whose
      log-softmax gradient would run the forward graph's backward twice, or for torch's own
      ReLU, whose second-order graph sends zeros there;
    - ``loss`` is ``step.loss`` or a function of it alone (Lightning's AMP loss scaling or
      division for gradient accumulation; its derivative is applied to both parts);
    - no process group is initialized (DDP reduces each gradient once per backward).

    Otherwise one backward runs.
    """
    params = list(parameters)
    scale = _split_scale(loss, step) if not args else None
    if scale is None:
        loss.backward(*args, inputs=params, **kwargs)
        return
    # The attribution graph can pass through forward-graph nodes (e.g. torch's own ReLU
    # backward refers to its forward tensor), so the first backward keeps the graph.
    handles, reached = [], []
    if step.split.pays is None:  # first time: watch whether the penalty enters the forward graph
        def watch(grads):
            if any(g is not None for g in grads):
                reached.append(True)
        handles = [node.register_prehook(watch) for node in _forward_nodes(step.task_loss)]
    try:
        step.prior.weighted.backward(scale, inputs=params, retain_graph=True,
                                     create_graph=kwargs.get("create_graph", False))
    finally:
        for handle in handles:
            handle.remove()
    if handles:
        step.split.pays = not reached
    step.task_loss.backward(scale, inputs=params, **kwargs)


def _split_scale(loss: Tensor, step: Optional[StepLoss]) -> Optional[Tensor]:
    """d loss / d step.loss when ``loss`` depends on nothing but ``step.loss``, else None."""
    # (prior_step_loss sets step.split only with a prior)
    if step is None or step.split is None or step.split.pays is False:
        return None
    if not loss.requires_grad or loss.numel() != 1:
        return None
    if not step.prior.weighted.requires_grad or not step.task_loss.requires_grad:
        return None
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return None
    if loss is step.loss:
        return torch.ones_like(loss)
    node = loss.grad_fn
    for _ in range(8):  # a few scalar operations at most (scaling, division)
        if node is step.loss.grad_fn:
            (scale,) = torch.autograd.grad(loss, step.loss, retain_graph=True)
            return scale
        edges = [fn for fn, _ in node.next_functions if fn is not None]
        if len(edges) != 1:
            return None
        node = edges[0]
    return None
