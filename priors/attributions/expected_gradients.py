"""Expected Gradients: Integrated Gradients averaged over references drawn from the data."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset, default_collate

from ..core.checks import check_batched, check_finite, check_integer
from ..core.targets import Target, chunks, interleave_target, select_output, slice_target
from .registry import register


class ReferenceSampler:
    """Streams random reference inputs from a map-style dataset without copying it.

    Each call ``sampler(n)`` draws ``n`` indices uniformly with replacement from its own
    ``generator`` (seeded with ``seed``; Expected Gradients also draws its interpolation
    alphas from it, so one generator state, saved in checkpoints through :meth:`state_dict`,
    fixes the whole sampling) and returns the stacked inputs: element ``input_index`` of each
    item (tuples/lists; for dict items, key ``input_index``, or ``"x"`` when ``input_index`` is
    an integer). A ``TensorDataset`` is indexed directly, other datasets item by item.

    ``batch_transform`` (a callable ``batch -> inputs``): the drawn items are collated into a
    batch (``collate_fn``, default PyTorch's) and passed through it, so references can go through
    the same transforms as training batches (device transfer, ``on_after_batch_transfer``
    normalization, ...); :class:`~priors.PriorModule` and the AttributionPrior callback do this.
    """

    def __init__(self, dataset: Dataset, input_index: Union[int, str] = 0,
                 seed: Optional[int] = None,
                 batch_transform: Optional[Callable[[Any], Tensor]] = None,
                 collate_fn: Optional[Callable[[list], Any]] = None):
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ValueError("cannot draw Expected Gradients references from an empty dataset")
        self.dataset = dataset
        self.input_index = input_index
        self.batch_transform = batch_transform
        self.collate_fn = collate_fn or default_collate
        self.generator = torch.Generator()
        self.generator.manual_seed(torch.initial_seed() if seed is None else seed)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def state_dict(self) -> Dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])

    def _input_of(self, item: Any) -> Any:
        key = self.input_index
        if isinstance(item, dict):
            if isinstance(key, int):
                key = "x"
            if key not in item:
                raise ValueError(f"ReferenceSampler: dataset items are dicts with keys "
                                 f"{sorted(item)}; pass input_index='<key of the input>'")
            return item[key]
        if isinstance(item, (tuple, list)):
            if not isinstance(key, int) or not -len(item) <= key < len(item):
                raise ValueError(f"ReferenceSampler: input_index={key!r} does not index dataset "
                                 f"items of length {len(item)}")
            return item[key]
        if isinstance(item, Tensor):
            return item  # a dataset of bare inputs
        raise TypeError(f"ReferenceSampler: cannot read the input from a dataset item of type "
                        f"{type(item).__name__}; items must be tuples, lists, dicts or tensors")

    def __call__(self, n: int) -> Tensor:
        idx = torch.randint(len(self), (n,), generator=self.generator)
        if self.batch_transform is not None:
            if isinstance(self.dataset, TensorDataset):
                batch: Any = tuple(t[idx] for t in self.dataset.tensors)
            else:
                batch = self.collate_fn([self.dataset[int(i)] for i in idx])
            return self.batch_transform(batch)
        if isinstance(self.dataset, TensorDataset) and isinstance(self.input_index, int):
            return self.dataset.tensors[self.input_index][idx]
        items = [self._input_of(self.dataset[int(i)]) for i in idx]
        return torch.stack([torch.as_tensor(item) for item in items])


References = Union[Tensor, Callable[[int], Tensor]]


def draw_references(references: References, n: int, like: Tensor) -> Tensor:
    """``n`` references shaped like one example of ``like``, on its device and dtype."""
    if isinstance(references, Tensor):
        if references.dim() != like.dim() or references.shape[1:] != like.shape[1:]:
            raise ValueError(
                f"references must have shape (N, {', '.join(map(str, like.shape[1:]))}); "
                f"got {tuple(references.shape)}"
            )
        if references.shape[0] == 0:
            raise ValueError("references is empty")
        idx = torch.randint(references.shape[0], (n,), device=references.device)
        refs = references[idx]
    elif callable(references):
        refs = references(n)
        if not isinstance(refs, Tensor) or refs.shape != (n, *like.shape[1:]):
            got = tuple(refs.shape) if isinstance(refs, Tensor) else type(refs).__name__
            raise ValueError(f"reference sampler returned {got}, expected {(n, *like.shape[1:])}")
    else:
        raise TypeError("references must be a tensor (N, *features) or a callable n -> tensor")
    refs = refs.to(device=like.device, dtype=like.dtype)
    check_finite(refs, "references")
    return refs


@register("eg", aliases=("expected_gradients",), needs_references=True, stochastic=True)
def expected_gradients(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    references: References,
    target: Target = None,
    k: int = 1,
    create_graph: bool = False,
    internal_batch_size: Optional[int] = None,
) -> Tensor:
    r"""Expected Gradients, a Monte-Carlo estimate of IG averaged over a reference distribution:

    .. math:: \mathrm{EG}_i(x) = \mathbb{E}_{x' \sim D,\ \alpha \sim U(0,1)}
              \Big[(x_i - x'_i)\,\frac{\partial f_t(x' + \alpha (x - x'))}{\partial x_i}\Big]

    estimated with ``k`` samples :math:`(x', \alpha)` per example in one batched forward and
    backward of ``B * k`` points.

    Erion, Janizek, Sturmfels, Lundberg and Lee, "Improving performance of deep learning models
    with axiomatic attribution priors and expected gradients", Nature Machine Intelligence 2021,
    https://arxiv.org/abs/1906.10670.

    Args:
        references: a tensor ``(N, *features)`` to sample from, or a callable ``n -> (n,
            *features)`` such as :class:`ReferenceSampler` streaming from a training set.
        k: references (and alphas) per example. Alphas are drawn from ``references.generator``
            when the sampler has one (:class:`ReferenceSampler`), else from the global RNG.
        create_graph: keep the graph for a penalty on the attributions (double backward).
        internal_batch_size: at most this many of the ``B * k`` points per forward/backward
            (bounds memory; the draws, hence the result, do not depend on it); ``None``: all.
    """
    check_batched(inputs)
    k = check_integer(k, "k", minimum=1)
    batch = inputs.shape[0]
    refs = draw_references(references, batch * k, inputs)
    x = inputs.repeat_interleave(k, dim=0)
    # Alphas from the reference sampler's own generator when it has one (reproducible and saved
    # in checkpoints with it), else from the global RNG.
    gen = getattr(references, "generator", None)
    shape = (batch * k,) + (1,) * (inputs.dim() - 1)
    if isinstance(gen, torch.Generator):
        alpha = torch.rand(shape, generator=gen, dtype=inputs.dtype).to(inputs.device)
    else:
        alpha = torch.rand(shape, device=inputs.device, dtype=inputs.dtype)
    diff = x - refs
    targets = interleave_target(target, k)
    parts = []
    for rows in chunks(len(x), internal_batch_size):
        points = refs[rows] + alpha[rows] * diff[rows]
        if not points.requires_grad:
            points.requires_grad_(True)
        selected = select_output(model(points), slice_target(targets, rows))
        parts.append(torch.autograd.grad(selected.sum(), points, create_graph=create_graph)[0])
    grads = torch.cat(parts)
    if not create_graph:
        diff = diff.detach()
    return (diff * grads).view(batch, k, *inputs.shape[1:]).mean(1)
