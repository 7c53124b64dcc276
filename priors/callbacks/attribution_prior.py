"""Add an attribution prior to an unmodified LightningModule."""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union

import pytorch_lightning as pl
from torch import Tensor, nn

from ..attributions.expected_gradients import References
from ..core.batch import BatchFn, parse_batch, resolve_callable
from ..core.checks import check_input_size, explain_inplace
from ..core.outputs import select_logits
from ..lightning.references import auto_references
from ..training.prior import Prior, check_inputs
from ..core.tokens import TokenBatch
from .capture import ModelCapture
from .text_capture import TextCapture, find_text_model


class AttributionPrior(pl.Callback):
    """Adds ``weight * penalty(attributions)`` to the loss of any LightningModule's training step.

    Lightning hooks cannot change the loss (deliberately, Lightning PR #9770), so at ``setup``
    this callback wraps the module's ``training_step``; the loss it returns becomes
    ``loss + weight * penalty``. It logs ``train/prior`` (unweighted penalty),
    ``train/prior_weighted``, ``train/task_loss`` (the loss your step returned) and
    ``train/loss_with_prior`` (their sum, what is back-propagated) through ``pl_module.log``
    in ``on_train_batch_end``, per step and per epoch (``..._step``/``..._epoch``), outside the
    step's forward+backward. ``log_prefix`` replaces ``train/``: Lightning silently overwrites a
    key logged twice in a step, so pick another prefix if your module logs these names.
    ``teardown`` restores the original step. On a :class:`~priors.PriorModule` without a prior
    (``train.py prior=none callbacks=attribution_prior``) the callback supplies the prior.

    Which model is attributed: the first, outermost module call in the step whose first
    argument is the batch input tensor itself, e.g. ``self(x)`` or ``self.net(x)``; its output
    must be the logits (``(B,)``/``(B, 1)`` for one logit, ``(B, C)`` for classes, as in
    :class:`~priors.Prior`). If your step transforms ``x`` before the model, name the model:
    ``model="net"`` (a dotted submodule path; ``""`` is the LightningModule itself), and the
    input of its first call is attributed. For ``xg``, ``grad`` and ``rrr`` a forward pre-hook
    hands that call a detached alias of its input that requires grad (your batch is not
    modified) and a forward hook keeps its output, so the prior reuses your step's forward and
    costs one extra backward, no extra forward. ``eg`` and ``ig`` evaluate the model at other points and need their own
    batched forward.

    Example (``MyClassifier`` knows nothing of priors; one epoch on generated data):

        >>> import pytorch_lightning as pl, torch
        >>> from priors.data import SyntheticTabularDataModule
        >>> class MyClassifier(pl.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = torch.nn.Linear(20, 1, bias=False)  # bias-free: an X-DNN, for xg
        ...     def training_step(self, batch, batch_idx):
        ...         x, y = batch
        ...         logits = self.net(x).squeeze(-1)
        ...         return torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
        ...     def configure_optimizers(self):
        ...         return torch.optim.SGD(self.parameters(), lr=0.1)
        >>> trainer = pl.Trainer(callbacks=[AttributionPrior("xg", "gini", weight=0.1)],
        ...                      max_epochs=1, limit_val_batches=0, logger=False,
        ...                      enable_checkpointing=False, enable_progress_bar=False,
        ...                      enable_model_summary=False)
        >>> trainer.fit(MyClassifier(), SyntheticTabularDataModule(n_samples=200))
        >>> float(trainer.callback_metrics["train/prior_epoch"]) < 0  # minus a Gini coefficient
        True

    Args:
        prior: a :class:`~priors.Prior`, or its method name followed by the rest of
            :class:`~priors.Prior`'s arguments (``penalty``, ``weight``, ``target``, the
            method's hyperparameters such as ``k``), positional or by keyword (the attributed
            output is the label's logit for multi-class models and the single logit for binary
            ones, as in :class:`~priors.PriorModule`).
        batch_fn: ``batch -> (x, y)`` or ``(x, y, mask)`` (or a ``"package.module.function"``
            path, for Hydra); default: the first two elements of a tuple/list batch, keys
            ``x``, ``y`` (and ``mask``) of a dict. ``y`` may be ``None`` for ``target="pred"``.
        model: which submodule to attribute (see above); ``None`` finds it automatically.
        references: Expected Gradients references, a tensor ``(N, *features)`` or a callable
            ``n -> (n, *features)``; default: a :class:`~priors.attributions.ReferenceSampler`
            over the datamodule's ``train_dataset`` (else the train dataloader's dataset).
        log_prefix: prefix of the logged keys.

    Limits, each failing with a message that says so: manual optimization (the loss your step
    returns is not what Lightning back-propagates: add ``prior(model, x, y)`` to your loss
    yourself), a step that returns no loss, a batch input that is not a tensor, a step that
    never calls a module on the batch input, a model output that is not a logits tensor, a
    :class:`~priors.PriorModule` that already has a prior, two AttributionPrior callbacks on one
    module, a captured module whose output the step feeds to another module with parameters
    (``self.head(self.encoder(x))``: the encoder is not the model; pin ``model=`` or call the
    whole model), an in-place operation on the attributed input. Expected Gradients references
    drawn from the training set pass through the module's batch hooks like training batches. Hook-based
    capture does not see models called with keyword arguments or compiled as one graph.
    """

    def __init__(
        self,
        prior: Union[str, Prior] = "xg",
        *prior_args: Any,
        batch_fn: Union[None, str, BatchFn] = None,
        model: Optional[str] = None,
        references: Optional[References] = None,
        log_prefix: str = "train/",
        **prior_kwargs: Any,
    ):
        if isinstance(prior, Prior):
            if prior_args or prior_kwargs:
                raise TypeError("AttributionPrior: pass either a Prior or its arguments, not both")
            self.prior = prior
        else:
            # The method may also come by keyword (Hydra configs: method: eg).
            method = prior_kwargs.pop("method", prior)
            self.prior = Prior(method, *prior_args, **prior_kwargs)
        self.batch_fn = resolve_callable(batch_fn, "batch_fn")
        self.model = model
        self.references = references
        self.log_prefix = log_prefix
        self.last: Dict[str, Tensor] = {}
        self._batch_size = 1
        self._unlogged = False
        self._enabled = True
        self._pinned: Optional[nn.Module] = None
        self._module: Optional[pl.LightningModule] = None
        self._wrapper: Optional[Callable] = None
        self._sampler: Optional[References] = None
        self._sampler_state: Optional[Dict[str, Any]] = None
        self._trainer: Optional[pl.Trainer] = None
        self._sizes_checked = False

    def __repr__(self) -> str:
        return f"AttributionPrior({self.prior!r})"

    # --- attaching -------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if not pl_module.automatic_optimization:
            raise RuntimeError(
                "AttributionPrior cannot work with manual optimization: your training_step calls "
                "manual_backward itself, so the loss it returns is never back-propagated. Add the "
                "prior in the step instead: loss = loss + priors.Prior(...)(model, x, y)")
        if isinstance(getattr(pl_module, "prior", None), Prior):
            raise RuntimeError(f"{type(pl_module).__name__} already trains with its own prior "
                               f"({pl_module.prior!r}); use either it or AttributionPrior")
        if getattr(pl_module.training_step, "__attribution_prior__", None) is not None:
            raise RuntimeError("two AttributionPrior callbacks on one module are not supported; "
                               "combine the penalties in one callback (penalty=a callable)")
        self._pinned = self._find_model(pl_module)
        original = pl_module.training_step

        @functools.wraps(original)
        def training_step(*args: Any, **kwargs: Any) -> Any:
            return self._training_step(pl_module, original, args, kwargs)

        training_step.__attribution_prior__ = self  # type: ignore[attr-defined]
        pl_module.training_step = training_step  # instance attribute shadows the method
        self._module, self._wrapper = pl_module, training_step

    def _find_model(self, pl_module: pl.LightningModule) -> Optional[nn.Module]:
        if self.model is None:
            return None
        try:
            return pl_module.get_submodule(self.model)
        except AttributeError:
            names = [n for n, _ in pl_module.named_modules() if n][:20]
            raise ValueError(f"AttributionPrior(model={self.model!r}): no such submodule in "
                             f"{type(pl_module).__name__}; submodules: {names}") from None

    def _detach(self) -> None:
        module, wrapper = self._module, self._wrapper
        if module is not None and module.__dict__.get("training_step") is wrapper:
            del module.__dict__["training_step"]
        self._module = self._wrapper = None

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._detach()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        self._detach()

    def is_attached_to(self, pl_module: pl.LightningModule) -> bool:
        return self._module is pl_module

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """Within this context the wrapped ``training_step`` is the original one (no prior)."""
        previous, self._enabled = self._enabled, False
        try:
            yield
        finally:
            self._enabled = previous

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._trainer = trainer
        self._sampler = self.references
        if self._sampler is None and self.prior.needs_references:
            # Drawn through the module's batch transforms, like the training batches.
            self._sampler = auto_references(trainer, pl_module, self.batch_fn, trainer.global_rank)
            state = self._sampler_state
            if state is not None and self._sampler is not None:
                self._sampler.load_state_dict(state)
        self._sampler_state = None

    def state_dict(self) -> Dict[str, Any]:
        """The reference sampler's generator, for exact resumes from checkpoints."""
        sampler = self._sampler if self.references is None else None
        return {"reference_sampler": sampler.state_dict()} if hasattr(sampler, "state_dict") else {}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._sampler_state = state_dict.get("reference_sampler")

    # --- the wrapped step --------------------------------------------------------------------
    def _training_step(self, pl_module: pl.LightningModule, original: Callable, args: tuple,
                       kwargs: dict) -> Any:
        if not self._enabled:
            return original(*args, **kwargs)
        batch = args[0] if args else kwargs.get("batch")
        x, y, mask = self._unpack(batch)
        if isinstance(x, TokenBatch):  # a text batch: the model is called with keywords
            model, xin = find_text_model(pl_module, self._pinned), x.recording()
            text = TextCapture(model, xin, self.prior.shares_forward)
            with text.active():
                out = original(*args, **kwargs)
            loss = _returned_loss(out)
            outputs = text.logits("AttributionPrior")
        else:
            capture = ModelCapture(x, self._pinned, self.prior.shares_forward)
            with capture.active(), explain_inplace("AttributionPrior"):
                out = original(*args, **kwargs)
            loss = _returned_loss(out)
            outputs = self._check_capture(pl_module, capture, x)
            model, xin = capture.module, capture.input
        with explain_inplace("AttributionPrior"):
            stats = self._penalty(model, xin, outputs, y, mask)
        total = loss + stats["prior_weighted"]
        self.last = {"task_loss": loss.detach(), "prior": stats["prior"].detach(),
                     "prior_weighted": stats["prior_weighted"].detach(), "loss": total.detach()}
        self._batch_size, self._unlogged = len(x), True
        if isinstance(out, Tensor):
            return total
        return {**out, "loss": total}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        # Logged here rather than in the step so that Lightning's logging is no part of the
        # step's forward+backward (which PriorCostMonitor times).
        if not self._unlogged or not self.is_attached_to(pl_module):
            return
        self._unlogged = False
        p, last = self.log_prefix, self.last
        names = {"prior": "prior", "prior_weighted": "prior_weighted", "task_loss": "task_loss",
                 "loss": "loss_with_prior"}
        pl_module.log_dict({p + names[k]: v for k, v in last.items()}, on_step=True,
                           on_epoch=True, batch_size=self._batch_size)

    def _unpack(self, batch: Any) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        x, y, mask = parse_batch(batch, self.batch_fn, who="AttributionPrior", need_y=False)
        check_inputs(x, "AttributionPrior: the batch input")
        return x, y, mask

    def _check_capture(self, pl_module: pl.LightningModule, capture: ModelCapture, x: Tensor) -> Tensor:
        if capture.module is None or not capture.done:
            where = (f"submodule {self.model!r}" if self.model is not None
                     else "any module with the batch input tensor itself as first argument")
            raise RuntimeError(
                f"AttributionPrior: the training_step of {type(pl_module).__name__} never called "
                f"{where}, so there is no model output to attribute. If the step transforms x "
                "before the model, pass model='<name of the model submodule>'")
        modules = {m: n or "<the LightningModule>" for n, m in pl_module.named_modules()}
        name = modules.get(capture.module, type(capture.module).__name__)
        if capture.fed_to is not None:
            consumer = modules.get(capture.fed_to, type(capture.fed_to).__name__)
            raise RuntimeError(
                f"AttributionPrior: the first module called on the batch input, {name!r}, "
                f"returns a tensor that the step then feeds to {consumer!r}: {name!r} is not "
                "the whole model, and attributing its output would penalize an internal unit, "
                "not the logits. Pass model='<submodule mapping x to the logits>' (or '' for "
                "the LightningModule's own forward)")
        out = capture.output
        if not isinstance(out, Tensor):
            try:  # a tuple / dict / ModelOutput: its logits by the default rule
                out = select_logits(out)
            except ValueError as err:
                raise TypeError(f"AttributionPrior: module {name!r} returned "
                                f"{type(out).__name__} and no logits could be selected ({err}); "
                                "pass model='<submodule returning the logits>'") from None
        xin = capture.input
        if out.dim() not in (1, 2) or out.shape[0] != xin.shape[0]:
            raise ValueError(f"AttributionPrior: module {name!r} returned shape "
                             f"{tuple(out.shape)} for inputs {tuple(xin.shape)}; expected logits "
                             "(batch,), (batch, 1) or (batch, classes). Pass "
                             "model='<submodule returning the logits>'")
        if self._pinned is None and out.shape == xin.shape and xin.shape[-1] > 1:
            raise ValueError(f"AttributionPrior: the first module called on the input, {name!r}, "
                             f"returns the input's shape {tuple(xin.shape)}: it looks like "
                             "preprocessing, not the classifier. Pass "
                             "model='<classifier submodule>'")
        return out

    def _penalty(self, model: nn.Module, xin: Tensor, outputs: Tensor, y: Optional[Tensor],
                 mask: Optional[Tensor]) -> Dict[str, Tensor]:
        if self.prior.needs_references and self._sampler is None:
            raise RuntimeError(f"AttributionPrior({self.prior.method!r}): no training dataset to "
                               "draw references from; pass references=<tensor or "
                               "ReferenceSampler(dataset)>")
        if not self._sizes_checked and isinstance(xin, Tensor):
            check_input_size(model, xin, "AttributionPrior: the batch input")
            self._sizes_checked = True
        step = self._trainer.global_step if self._trainer is not None else None
        out = self.prior.penalize(model, xin, outputs, y, mask, self._sampler, step=step)
        return {"prior": out.penalty, "prior_weighted": out.weighted}


def _returned_loss(out: Any) -> Tensor:
    if isinstance(out, Tensor):
        return out
    if isinstance(out, dict) and isinstance(out.get("loss"), Tensor):
        return out["loss"]
    raise RuntimeError(
        "AttributionPrior: training_step returned "
        + ("None" if out is None else type(out).__name__)
        + "; it must return the loss tensor (or a dict with a 'loss' tensor) so the prior can be "
        "added to it")
