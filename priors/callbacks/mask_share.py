"""Share of the trained model's positive attribution inside each test example's annotation mask."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import pytorch_lightning as pl
import torch

from ..attributions import get_method


class MaskAttributionShare(pl.Callback):
    """After fit, for each method, ``share = sum |a| on the mask / sum |a|``, pooled over up to
    ``max_examples`` test examples ``(x, y, mask)`` of ``datamodule.test_dataset`` (the
    predicted class attributed), and the share a uniform attribution would give.

    On Decoy-MNIST the mask is the decoy swatch: a model that ignores it has a share near 0.
    Measure with the method a loss trained on *and* with another one (default: input x gradient
    and Grad-CAM), so that a loss cannot look good by hiding only the attribution it penalizes.
    ``summary()`` gives ``attr_share/mask_<method>`` and ``attr_share/mask_uniform``.
    """

    def __init__(self, methods: Sequence[str] = ("input_x_gradient", "grad_cam"),
                 max_examples: int = 500, batch_size: int = 250, seed: int = 0):
        self.specs = [get_method(m) for m in methods]
        if max_examples < 1 or batch_size < 1:
            raise ValueError("max_examples and batch_size must be >= 1")
        self.max_examples, self.batch_size, self.seed = max_examples, batch_size, seed
        self._trainer: Optional[pl.Trainer] = None
        self._module: Optional[pl.LightningModule] = None
        self._result: Optional[Dict[str, float]] = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._trainer, self._module, self._result = trainer, pl_module, None

    def compute(self, dataset, model: torch.nn.Module) -> Dict[str, float]:
        x, _, mask = dataset.tensors[:3]
        if len(x) > self.max_examples:
            pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
            x, mask = x[pick[:self.max_examples]], mask[pick[:self.max_examples]]
        device = next(model.parameters()).device
        sums = {spec.name: [0.0, 0.0] for spec in self.specs}
        was_training = model.training
        model.eval()
        try:
            for xb, mb in zip(x.split(self.batch_size), mask.split(self.batch_size)):
                xb, mb = xb.to(device), mb.to(device)
                with torch.no_grad():
                    target = model(xb).argmax(1)
                for spec in self.specs:
                    attr = spec(model, xb, target).detach().abs()
                    sums[spec.name][0] += float((attr * mb).sum())
                    sums[spec.name][1] += float(attr.sum())
        finally:
            model.train(was_training)
        out = {f"attr_share/mask_{name}": (on / total if total > 0 else float("nan"))
               for name, (on, total) in sums.items()}
        out["attr_share/mask_uniform"] = float(mask.float().mean())
        return out

    def summary(self) -> Dict[str, float]:
        if self._module is None:
            return {}
        if self._result is None:
            model = getattr(self._module, "model", self._module)
            self._result = self.compute(self._trainer.datamodule.test_dataset, model)
        return dict(self._result)
