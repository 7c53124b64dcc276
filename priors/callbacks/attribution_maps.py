"""See the prior act: attribution maps of fixed validation examples, every few epochs."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import Tensor
from torch.utils.data import default_collate

from ..attributions import get_method
from ..core.batch import BatchFn, parse_batch, resolve_callable
from ..core.targets import attribution_target, check_target_choice, predicted_class
from ..core.outputs import select_logits
from ..penalties.gini import gini
from ..lightning.references import training_references
from .attribution_plots import feature_bars, image_grid

log = logging.getLogger(__name__)

__all__ = ["AttributionMaps"]


class AttributionMaps(pl.Callback):
    """Every ``every_n_epochs`` epochs, attribute a fixed set of validation examples and log it.

    Images (inputs ``(B, C, H, W)``): a grid with one column per example showing the input, its
    attribution and, where the batch has one, the annotation mask (outlined on the other two),
    titled with the share of |attribution| inside the masks. Tabular inputs ``(B, F)``: a bar
    chart of the mean |attribution| per feature (names from the datamodule's
    ``feature_names``), titled with the Gini coefficient of those means (the quantity the
    sparsity prior of Erion et al., Nature MI 2021, raises).

    Figures go to every configured :class:`~pytorch_lightning.loggers.TensorBoardLogger`
    (``add_figure``, tag ``attribution_maps/<method>``) and, as PNG files
    ``epoch_<NNN>.png``, into ``output_dir`` (default: ``<trainer.default_root_dir>/
    attribution_maps``). The scalars ``attr_maps/mask_share`` (images with masks) or
    ``attr_maps/gini`` (tabular) are logged too.

    Args:
        every_n_epochs: epochs between maps (the last epoch is always drawn).
        n_examples: validation examples attributed (default 8 images or 256 table rows); a fixed
            random subset drawn once with ``seed``.
        method: a registered attribution method; default: the module's prior method (with its
            hyperparameters) when it has a prior, else ``"grad"``.
        target: ``"label"`` (attribute the true class) or ``"pred"`` (the predicted class).
        output_dir: folder for the PNG files.
        seed: seeds the example subset and Expected Gradients' references.
        batch_fn: reads ``(x, y[, mask])`` from a non-standard dataset item batch.
        **hparams: hyperparameters of ``method``.
    """

    def __init__(self, every_n_epochs: int = 5, n_examples: Optional[int] = None,
                 method: Optional[str] = None, target: str = "label",
                 output_dir: Optional[str] = None, seed: int = 0,
                 batch_fn: Optional[BatchFn | str] = None, **hparams: Any):
        if int(every_n_epochs) < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        if n_examples is not None and int(n_examples) < 1:
            raise ValueError(f"n_examples must be >= 1, got {n_examples}")
        check_target_choice(target)
        if method is not None:
            get_method(method).check_hparams(hparams)  # unknown names fail at construction
        self.every_n_epochs = int(every_n_epochs)
        self.n_examples = n_examples
        self.method = method
        self.target = target
        self.output_dir = Path(output_dir) if output_dir else None
        self.seed = int(seed)
        self.batch_fn = resolve_callable(batch_fn, "batch_fn")
        self.hparams = dict(hparams)
        self._examples: Optional[tuple] = None
        self.written: list[Path] = []

    # -------------------------------------------------------------- set-up

    def _spec_and_hparams(self, pl_module: pl.LightningModule):
        prior = getattr(pl_module, "prior", None)
        if self.method is None and prior is not None:
            if getattr(prior.spec, "fn", None) is not None and hasattr(prior.spec, "aliases"):
                return prior.spec, {**prior.hparams, **self.hparams}
            # An explanation loss (LossPrior) is no attribution method: map what it guides.
            spec = get_method(getattr(prior.spec, "attribution", None) or "grad")
            return spec, spec.check_hparams(self.hparams)
        spec = get_method(self.method or "grad")
        return spec, spec.check_hparams(self.hparams)

    def _pick_examples(self, trainer: pl.Trainer) -> tuple:
        dataset = getattr(trainer.datamodule, "val_dataset", None) if trainer.datamodule else None
        if dataset is None:
            dataset = trainer.val_dataloaders.dataset if trainer.val_dataloaders else None
        if dataset is None or len(dataset) == 0:
            raise ValueError("AttributionMaps: needs validation data (a datamodule "
                             "val_dataset or a val dataloader)")
        probe = parse_batch(default_collate([dataset[0]]), self.batch_fn, who="AttributionMaps")
        n = self.n_examples or (8 if probe.x.dim() >= 4 else 256)
        gen = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(len(dataset), generator=gen)[: min(n, len(dataset))].sort().values
        batch = default_collate([dataset[int(i)] for i in idx])
        return parse_batch(batch, self.batch_fn, who="AttributionMaps")

    def _folder(self, trainer: pl.Trainer) -> Path:
        folder = self.output_dir or Path(trainer.default_root_dir) / "attribution_maps"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -------------------------------------------------------------- hook

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and epoch >= trainer.max_epochs
        if epoch % self.every_n_epochs and not last:
            return
        if trainer.global_rank != 0:
            return
        if self._examples is None:
            self._examples = self._pick_examples(trainer)
        scalars = self.draw(trainer, pl_module, epoch)
        for key, value in scalars.items():
            pl_module.log(key, value, on_epoch=True, sync_dist=False)

    def attribute(self, pl_module: pl.LightningModule, datamodule=None):
        """``(x, y, mask, attributions, predictions, method name)`` for the fixed examples."""
        x, y, mask = self._examples
        model = getattr(pl_module, "model", pl_module)
        spec, hparams = self._spec_and_hparams(pl_module)
        device = pl_module.device
        x = x.to(device)
        references = None
        if spec.accepts_references and datamodule is not None and hasattr(datamodule,
                                                                          "train_dataset"):
            references = training_references(datamodule.train_dataset, self.seed, pl_module,
                                             self.batch_fn)
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad(), torch.inference_mode(False):
                with torch.no_grad():
                    out = select_logits(model(x))
                pred = predicted_class(out)
                target = attribution_target(out, y, self.target, spec.uses_target)
                attr = spec(model, x.clone(), target, references=references, **hparams)
        finally:
            model.train(was_training)
        return x.cpu(), y, mask, attr.detach().float().cpu(), pred.cpu(), spec.name

    def draw(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epoch: int
             ) -> Dict[str, float]:
        """Draw, save and log the figure for ``epoch``; return the logged scalars."""
        x, y, mask, attr, pred, name = self.attribute(pl_module, trainer.datamodule)
        scalars: Dict[str, float] = {}
        if x.dim() >= 4:
            masks = mask.float().expand_as(x).numpy() if mask is not None else None
            title = f"epoch {epoch}: {name} attributions of {len(x)} validation images"
            if masks is not None and masks.any():
                share = float((attr.abs() * torch.from_numpy(masks)).sum() / attr.abs().sum()
                              .clamp_min(1e-30))
                scalars["attr_maps/mask_share"] = share
                title += f"\nshare of |attribution| inside the masks: {share:.1%}"
            captions = [f"y={int(a)} pred={int(b)}" if y is not None else f"pred={int(b)}"
                        for a, b in zip(y if y is not None else pred, pred)]
            fig = image_grid(x.numpy(), attr.numpy(), masks, captions, title)
        else:
            mean_abs = attr.abs().flatten(1).mean(0)
            g = float(gini(mean_abs.double()))
            scalars["attr_maps/gini"] = g
            dm = trainer.datamodule
            names = getattr(dm, "feature_names", None)
            highlight = getattr(dm, "irrelevant_mask", None)
            highlight = (highlight.numpy() if isinstance(highlight, Tensor) and
                         highlight.numel() == mean_abs.numel() else None)
            fig = feature_bars(
                mean_abs.numpy(), names,
                title=f"epoch {epoch}: mean |{name} attribution| over {len(x)} validation rows"
                      f"\nGini coefficient = {g:.3f}",
                highlight=highlight, highlight_label="irrelevant (permuted) features")
        path = self._folder(trainer) / f"epoch_{epoch:03d}.png"
        fig.savefig(path, dpi=110)
        self.written.append(path)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(f"attribution_maps/{name}", fig,
                                             global_step=trainer.global_step, close=False)
        log.info("attribution maps of epoch %d: %s", epoch, path)
        return scalars

    def state_dict(self) -> Dict[str, Any]:
        return {"written": [str(p) for p in self.written]}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.written = [Path(p) for p in state_dict.get("written", [])]
