"""Share of the trained model's |attribution| that lands on a marked group of features."""
from __future__ import annotations

from typing import Dict, Optional

import pytorch_lightning as pl
import torch
from torch import Tensor

from ..attributions import get_method
from ..core.targets import attribution_target
from ..lightning.references import training_references
from ..core.outputs import select_logits


class AttributionShare(pl.Callback):
    """After fit, the share of total |attribution| on the features of ``datamodule.<mask>``.

    ``share = sum |a_ij| over marked features j / sum |a_ij| over all features``, pooled over up
    to ``max_examples`` test examples ``i`` (a fixed random subset when there are more). Used for
    the appended-irrelevant-features experiment of Erion et al., "Improving performance of deep
    learning models with axiomatic attribution priors and expected gradients", Nature MI 2021:
    there ``mask="irrelevant_mask"`` of :class:`~priors.data.NHANESDataModule`, and a prior that
    ignores the permuted columns drives the share below ``n_irrelevant / n_features``.

    The attribution method is the same for every model being compared (default Integrated
    Gradients from a zero baseline, i.e. from the training mean on standardized data), so the
    share does not favour the prior that was trained with that method. It is computed on the
    weights in place when :meth:`summary` is first called, which the pipeline does after fit,
    i.e. after :class:`KeepBestWeights` restored the selected weights.

    ``summary()`` gives ``attr_share/<name>`` and ``attr_share/<name>_uniform`` (the share if
    attribution were spread evenly over the features), ``name`` defaulting to the mask name
    without ``_mask``.

    Args:
        mask: name of a boolean ``(n_features,)`` attribute of the datamodule.
        method: any registered attribution method (default ``ig``).
        **hparams: its hyperparameters (default ``n_steps=16`` for ``ig``, ``k=16`` for ``eg``).
        max_examples: test examples attributed (all when fewer).
        batch_size: examples per attribution call.
        name: metric suffix.
    """

    # Cheaper than the methods' own defaults: the share is a pooled sum over many examples.
    DEFAULTS = {"ig": {"n_steps": 16}, "eg": {"k": 16}}

    def __init__(self, mask: str = "irrelevant_mask", method: str = "ig", max_examples: int = 2000,
                 batch_size: int = 500, name: Optional[str] = None, seed: int = 0, **hparams):
        self.spec = get_method(method)
        self.method = self.spec.name
        self.hparams = self.spec.check_hparams({**self.DEFAULTS.get(self.method, {}), **hparams})
        if max_examples < 1 or batch_size < 1:
            raise ValueError("max_examples and batch_size must be >= 1")
        self.mask_name = mask
        self.max_examples = max_examples
        self.batch_size = batch_size
        self.name = name or mask.removesuffix("_mask")
        self.seed = seed
        self._trainer: Optional[pl.Trainer] = None
        self._module: Optional[pl.LightningModule] = None
        self._result: Optional[Dict[str, float]] = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._trainer, self._module, self._result = trainer, pl_module, None

    def _attribute(self, model, x: Tensor, references) -> Tensor:
        with torch.no_grad():
            out = select_logits(model(x))
        target = attribution_target(out, choice="pred")  # several classes: the predicted one
        return self.spec(model, x, target, references=references, **self.hparams)

    def compute(self, datamodule, model: torch.nn.Module) -> Dict[str, float]:
        """The share for ``model`` on ``datamodule.test_dataset``."""
        mask = getattr(datamodule, self.mask_name, None)
        if mask is None:
            raise AttributeError(f"AttributionShare: the datamodule has no {self.mask_name!r}")
        mask = torch.as_tensor(mask, dtype=torch.bool)
        x = datamodule.test_dataset.tensors[0]
        if x.shape[1:] != mask.shape:
            raise ValueError(f"AttributionShare: {self.mask_name} has shape {tuple(mask.shape)} "
                             f"but the inputs have features {tuple(x.shape[1:])}")
        gen = torch.Generator().manual_seed(self.seed)
        if len(x) > self.max_examples:
            x = x[torch.randperm(len(x), generator=gen)[: self.max_examples]]
        module = self._module if isinstance(self._module, pl.LightningModule) else None
        references = (training_references(datamodule.train_dataset, self.seed, module)
                      if self.spec.accepts_references else None)
        device = next(model.parameters()).device
        on_mask = total = 0.0
        was_training = model.training
        model.eval()
        try:
            for chunk in x.split(self.batch_size):
                attr = self._attribute(model, chunk.to(device), references).detach().abs()
                on_mask += float(attr[:, mask.to(device)].sum())
                total += float(attr.sum())
        finally:
            model.train(was_training)
        share = on_mask / total if total > 0 else float("nan")
        return {f"attr_share/{self.name}": share,
                f"attr_share/{self.name}_uniform": float(mask.float().mean())}

    def summary(self) -> Dict[str, float]:
        if self._module is None:
            return {}
        if self._result is None:
            model = getattr(self._module, "model", self._module)
            self._result = self.compute(self._trainer.datamodule, model)
        return dict(self._result)
