"""Modified datasets for ROAR / KAR, cached on disk, and loading a trained run.

A run directory (written by ``train.py``) holds ``result.json`` with the run's resolved config
and the selected weights, ``model.pt``; :mod:`priors.evaluation.load` reads both.

:func:`modified_dataset` ranks the features of every train, validation and test input by the
absolute attribution of the run's model and replaces the top (``mode="roar"``) or the bottom
(``mode="kar"``) ``fraction`` by the training mean: per feature for tabular data, per channel
for images, where the whole pixel is replaced (Hooker, Erhan, Kindermans and Kim, "A Benchmark
for Interpretability Methods in Deep Neural Networks", NeurIPS 2019). Attributions, scores,
ranking and masking are those of the keep/remove metrics (:mod:`~priors.evaluation.attribute`,
:mod:`~priors.evaluation.masking`: a pixel's score is the absolute value of its attribution
summed over channels, see :func:`~priors.evaluation.masking.pixel_attribution`), the attributed
output that of :func:`priors.core.targets.attribution_target`. Results are cached under a hash
of (run, method, hyperparameters, fraction, mode, seed); attributions under a hash without
fraction and mode, so the fractions of one method share one attribution pass.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from ..attributions import get_method
from ..core.targets import attribution_target
from .attribute import compute_attributions
from .load import load_run as _load_run, run_config, split_dataset
from .masking import feature_scores, mask_fraction, rank_scores

log = logging.getLogger(__name__)

MODES = ("roar", "kar")
RANDOM = "random"
CACHE_VERSION = 2  # 2: the package's pixel score (|sum over channels|), shared ranking
SPLITS = ("train", "val", "test")


# ---------------------------------------------------------------- runs
def load_run_config(run_dir: str | Path) -> DictConfig:
    """The resolved config a run was trained with."""
    return run_config(run_dir)[0]


RUN_KEYS = ("model", "prior", "optimizer", "scheduler", "trainer", "callbacks", "module",
            "optimized_metric")


def run_node(run_dir: str, key: str, updates: Any = None, _parent_: Any = None) -> Any:
    """OmegaConf resolver ``${priors.run_node:<run dir>,<key>[,<updates>]}``: a node of a run's
    config, with ``updates`` (a dict, e.g. ``roar.set.trainer``) merged over it.

    ``trainer.default_root_dir`` is pointed at the new job's ``paths.output_dir`` so that a
    retraining never writes into the original run (``train.py`` saves the retrained model's
    ``model.pt`` there too, so it can itself be evaluated).
    """
    cfg = load_run_config(run_dir)
    value = cfg.get(key)
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    if updates is not None:
        if OmegaConf.is_config(updates):
            updates = OmegaConf.to_container(updates, resolve=True)
        if isinstance(value, dict) and isinstance(updates, dict):
            value = OmegaConf.to_container(OmegaConf.merge(value, updates))
        else:
            value = updates
    if key == "trainer" and isinstance(value, dict):
        value["default_root_dir"] = "${paths.output_dir}"
    return OmegaConf.create(value, parent=_parent_) if isinstance(value, (dict, list)) else value


def route_overrides(overrides: Sequence[str]) -> List[str]:
    """``train.py`` overrides for a job whose model, trainer, ... come from a run: those
    addressing a run-derived node (``trainer.max_epochs=2``) become ``+roar.set.trainer.
    max_epochs=2``, which :func:`run_node` merges over the run's value; others pass as is."""
    routed = []
    for ov in overrides:
        key = ov.lstrip("+~").split("=", 1)[0]
        # Dotted keys only: "model=mlp" picks a config group, which experiment=roar replaces.
        if key.split(".", 1)[0] in RUN_KEYS and ("." in key or key == "optimized_metric"):
            ov = "+roar.set." + ov.lstrip("+")
        routed.append(ov)
    return routed


def load_run(run_dir: str | Path) -> Tuple[nn.Module, Any, DictConfig]:
    """``(model, datamodule, cfg)`` of a trained run, weights loaded, model in eval mode."""
    run = _load_run(run_dir)
    return run.model, run.datamodule, run.config


def split_tensors(datamodule: Any, split: str) -> Tuple[Tensor, ...]:
    """The tensors ``(x, y[, mask])`` of a datamodule's ``<split>_dataset``."""
    dataset = split_dataset(datamodule, split)
    if hasattr(dataset, "tensors"):
        return tuple(dataset.tensors)
    items = [dataset[i] for i in range(len(dataset))]
    return tuple(torch.stack([torch.as_tensor(it[j]) for it in items])
                 for j in range(len(items[0])))


# ---------------------------------------------------------------- ranking and masking
def feature_means(x_train: Tensor) -> Tensor:
    """Training mean per feature (tabular, shape ``(F,)``) or per channel (images, ``(C,)``)."""
    return x_train.mean(dim=(0, *range(2, x_train.dim()))) if x_train.dim() > 2 \
        else x_train.mean(0)


def replace_ranked(x: Tensor, scores: Tensor, fraction: float, mode: str, means: Tensor,
                   generator: torch.Generator) -> Tensor:
    """Copy of ``x`` with the top (``roar``) or bottom (``kar``) ``fraction`` of features
    (pixels for images) by ``scores`` ``(N, F)`` replaced by ``means``: the keep/remove
    metrics' ranking (:func:`~priors.evaluation.masking.rank_scores`, ties in a random order
    drawn from ``generator``) and masking (:func:`~priors.evaluation.masking.mask_fraction`;
    KAR removes the top of the reversed ranking)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    order = rank_scores(scores, tie_seed=int(torch.randint(2 ** 31, (1,), generator=generator)))
    if mode == "kar":
        order = order.flip(1)
    # Images: whole pixels take the per-channel mean (a (1, C, 1, 1) fill).
    fill = means.view(1, -1, *([1] * (x.dim() - 2))) if x.dim() > 2 else means
    return mask_fraction(x, order, float(fraction), fill, keep=False,
                         pixel_level=x.dim() == 4)


# ---------------------------------------------------------------- attributions
def _stochastic(method: str) -> bool:
    if method == RANDOM:
        return True
    m = get_method(method)
    return m.needs_references or "seed" in m.hparams


def compute_scores(model: nn.Module, method: str, x: Tensor, y: Tensor, *, task_target: str,
                   references: Tensor, seed: int, hparams: Mapping[str, Any],
                   batch_size: int = 256) -> Tensor:
    """Feature scores ``(N, F)`` of ``method`` for inputs ``x`` (``random``: uniform noise):
    :func:`~priors.evaluation.masking.feature_scores` (``absolute``) of the attributions of
    :func:`~priors.evaluation.attribute.compute_attributions` for the output that
    :func:`~priors.core.targets.attribution_target` chooses (``task_target``)."""
    if method == RANDOM:
        gen = torch.Generator().manual_seed(int(seed))
        return torch.rand(feature_scores(x).shape, generator=gen)
    fn = get_method(method)
    spec = {"method": method, **hparams}
    if "seed" in fn.hparams and "seed" not in spec:
        spec["seed"] = int(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        with torch.no_grad():
            outputs = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        target = attribution_target(outputs, y, task_target, fn.uses_target)
        attrs, _ = compute_attributions(model, x, {method: spec}, target, references, batch_size,
                                        progress=False)
    return feature_scores(attrs[method])


def _key(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(f".tmp{torch.randint(1 << 30, (1,)).item()}")
    torch.save(obj, tmp)
    tmp.replace(path)  # parallel jobs never see a half-written file


def default_cache_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "roar" / "cache"


def modified_dataset(run_dir: str | Path, method: str, fraction: float, mode: str = "roar",
                     seed: int = 0, cache_dir: Optional[str | Path] = None,
                     hparams: Optional[Mapping[str, Any]] = None, target: str = "pred",
                     loaded: Optional[Tuple[nn.Module, Any]] = None,
                     ) -> Tuple[Dict[str, Tuple[Tensor, ...]], Path, bool]:
    """The run's splits with features replaced, from the cache when present.

    Returns ``(splits, path, built)``: ``splits[name] = (x, y[, mask])`` for train/val/test,
    the cache file, and whether it was built now (``False``: read from the cache).
    ``loaded``: the run's ``(model, datamodule)`` if already loaded (saves reloading per call).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    run_dir = Path(run_dir).resolve()
    hparams = dict(hparams or {})
    if method != RANDOM:
        try:  # aliases share the canonical name's cache; an unregistered name may still hit it
            method = get_method(method).name
        except ValueError:
            pass
    cache = Path(cache_dir) if cache_dir else default_cache_dir(run_dir)
    cache.mkdir(parents=True, exist_ok=True)
    base = {"v": CACHE_VERSION, "run": str(run_dir), "method": method, "hparams": hparams,
            "target": target}
    key = _key({**base, "fraction": round(float(fraction), 6), "mode": mode, "seed": int(seed)})
    path = cache / f"data-{method}-{mode}-{float(fraction):g}-s{seed}-{key}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True), path, False
    model, datamodule = loaded if loaded is not None else load_run(run_dir)[:2]
    splits = {s: split_tensors(datamodule, s) for s in SPLITS}
    # Deterministic methods give the same attributions for every seed: one pass serves all.
    attr_key = _key({**base, "seed": int(seed) if _stochastic(method) else None})
    attr_path = cache / f"scores-{method}-{attr_key}.pt"
    if attr_path.is_file():
        scores = torch.load(attr_path, weights_only=True)
    else:
        log.info("ROAR: computing %s attributions of %s", method, run_dir)
        x_train = splits["train"][0]
        scores = {s: compute_scores(model, method, splits[s][0], splits[s][1], task_target=target,
                                    references=x_train, seed=seed + i, hparams=hparams)
                  for i, s in enumerate(SPLITS)}
        _save_atomic(scores, attr_path)
    means = feature_means(splits["train"][0])
    gen = torch.Generator().manual_seed(int(seed))
    out = {s: (replace_ranked(t[0], scores[s], fraction, mode, means, gen), *t[1:])
           for s, t in splits.items()}
    _save_atomic(out, path)
    return out, path, True
