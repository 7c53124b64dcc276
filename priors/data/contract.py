"""What the pipeline, :class:`~priors.lightning.module.PriorModule` and the callbacks read from a datamodule.

Any ``LightningDataModule`` works with ``train.py`` and the callbacks if, after
``prepare_data()`` and ``setup("fit")``, it offers:

``task``
    ``"binary"`` (one logit per example) or ``"multiclass"`` (one logit per class).
``num_classes``
    ``1`` for ``"binary"``, the number of classes (>= 2) for ``"multiclass"``. ``model.
    out_features=auto`` / ``model.num_classes=auto`` read it.
``num_features`` or ``in_channels``
    Input size: ``num_features`` (flattened size) for ``model.in_features=auto``;
    ``in_channels`` for image models (``model.in_channels=auto``; 3 when absent).
``train_dataset``, ``val_dataset`` (and ``test_dataset`` when the run tests)
    Map-style datasets. Expected Gradients draws its references from ``train_dataset``;
    :class:`~priors.callbacks.AttributionShare` reads ``test_dataset`` and
    :class:`~priors.callbacks.AttributionMaps` ``val_dataset``.
``train_dataloader()``, ``val_dataloader()`` (and ``test_dataloader()``)
    Batches laid out as ``(x, y)`` or ``(x, y, mask)`` (see :func:`priors.core.batch.parse_batch`):
    ``x`` float, ``(B, F)`` or ``(B, C, H, W)``; ``y`` of shape ``(B,)``, **float32 0/1 for
    "binary"** (for the BCE loss) and **int64 class indices for "multiclass"**; ``mask``
    (optional) the annotation mask of ``x``'s shape, 1 where a prior should remove attribution.

Optional attributes some parts use: ``feature_names`` (labels of the tabular attribution
plots), masks such as ``irrelevant_mask`` (:class:`~priors.callbacks.AttributionShare`).

:func:`check_datamodule` checks all of this and names what is missing; ``train.py`` runs it
right after ``setup``.

>>> from priors.data import SyntheticTabularDataModule
>>> dm = SyntheticTabularDataModule(n_samples=50, n_features=3, n_relevant=1)
>>> isinstance(dm, DataModuleContract)
True
>>> check_datamodule(dm)
>>> check_datamodule(object())
Traceback (most recent call last):
...
TypeError: The datamodule object does not satisfy the datamodule contract (priors.data.contract): missing task, num_classes, train_dataset, val_dataset, train_dataloader, val_dataloader, num_features or in_channels.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["DataModuleContract", "TASKS", "check_datamodule"]

TASKS = ("binary", "multiclass")


@runtime_checkable
class DataModuleContract(Protocol):
    """Structural type of a datamodule usable by ``train.py`` (see the module docstring).

    ``isinstance(dm, DataModuleContract)`` checks that the attributes exist; it cannot check
    ``num_features``-or-``in_channels`` nor values and dtypes: :func:`check_datamodule` does.
    """

    task: str
    num_classes: int
    train_dataset: Any
    val_dataset: Any

    def train_dataloader(self) -> Any: ...

    def val_dataloader(self) -> Any: ...


def _has(obj: Any, name: str) -> bool:
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    return True


def _first_label(dataset: Any) -> Any:
    item = dataset[0]
    if isinstance(item, dict):
        return item.get("y", item.get("label", item.get("target")))
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[1]
    return None


def check_datamodule(dm: Any, need_test: bool = False) -> None:
    """Raise a clear error unless ``dm`` (after ``setup``) satisfies the contract.

    Checks presence of the attributes, ``task`` and ``num_classes`` values, and the dtype of
    the first training label (float for binary, integer for multiclass). ``need_test``
    additionally requires ``test_dataset`` / ``test_dataloader``.

    Raises:
        TypeError: attributes are missing or a label has the wrong dtype.
        ValueError: ``task`` / ``num_classes`` have unsupported values.
    """
    who = f"The datamodule {type(dm).__name__}"
    required = ["task", "num_classes", "train_dataset", "val_dataset", "train_dataloader",
                "val_dataloader"]
    if need_test:
        required += ["test_dataset", "test_dataloader"]
    missing = [name for name in required if not _has(dm, name)]
    if not (_has(dm, "num_features") or _has(dm, "in_channels")):
        missing.append("num_features or in_channels")
    if missing:
        raise TypeError(f"{who} does not satisfy the datamodule contract (priors.data.contract): "
                        f"missing {', '.join(missing)}.")
    if dm.task not in TASKS:
        raise ValueError(f"{who}: task must be one of {TASKS}, got {dm.task!r}.")
    expected = "1" if dm.task == "binary" else "an integer >= 2"
    ok = (dm.num_classes == 1) if dm.task == "binary" else (
        isinstance(dm.num_classes, int) and dm.num_classes >= 2)
    if not ok:
        raise ValueError(f"{who}: task={dm.task!r} needs num_classes {expected}, "
                         f"got {dm.num_classes!r}.")
    dataset = dm.train_dataset
    if dataset is None or len(dataset) == 0:
        raise ValueError(f"{who}: train_dataset is empty (or None) after setup().")
    y = _first_label(dataset)
    if isinstance(y, torch.Tensor):
        want = "a float (0/1)" if dm.task == "binary" else "an integer (int64 class index)"
        good = y.is_floating_point() if dm.task == "binary" else not (
            y.is_floating_point() or y.is_complex() or y.dtype == torch.bool)
        if not good:
            raise TypeError(f"{who}: task={dm.task!r} needs {want} label, but the first "
                            f"training label has dtype {y.dtype}.")
