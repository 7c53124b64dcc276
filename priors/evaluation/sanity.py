"""Sanity checks for saliency maps: do the maps change when the model or the labels are random?

Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for Saliency Maps",
NeurIPS 2018, https://arxiv.org/abs/1810.03292.

* Model-parameter randomization (:func:`model_randomization`): maps of copies of the trained
  model with layers re-initialized, cascading from the top layer down or one layer at a time
  (:mod:`priors.evaluation.randomize`), compared with the trained model's maps
  (:mod:`priors.evaluation.similarity`). A method that explains the model should lose its
  similarity as layers are randomized.
* Data randomization (:func:`data_randomization`): a model trained by the run's own recipe on
  permuted labels (``python train.py experiment=random_labels roar.run=<run>``), whose maps
  should not resemble those of the model trained on the true labels.

Python: :func:`run_sanity`; from ``evaluate.py``: ``metric=sanity`` (``conf/metric/sanity.yaml``).
Methods are registered names or callables ``fn(model, x, target) -> maps``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..core.stats import standard_error
from ..attributions import get_method
from ..core.targets import attribution_target
from .randomize import RANDOMIZATIONS, parameter_layers, randomized_models
from .similarity import METRICS, similarities

log = logging.getLogger(__name__)

Method = Union[str, Callable[..., Tensor]]


def method_name(method: Method) -> str:
    if isinstance(method, str):
        return method
    return getattr(method, "__name__", type(method).__name__)


def compute_maps(model: nn.Module, method: Method, x: Tensor, target: Any = None,
                 references: Optional[Tensor] = None, seed: int = 0,
                 hparams: Optional[Mapping[str, Any]] = None) -> Tensor:
    """Attribution maps of ``method`` (registered name or callable) for ``x``, detached.

    Stochastic methods (noise, references) are seeded by ``seed``, so the original and the
    randomized models see the same noise and differences come from the weights alone.
    """
    kwargs = dict(hparams or {})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if isinstance(method, str):
            fn = get_method(method)
            if "seed" in fn.hparams and "seed" not in kwargs:
                kwargs["seed"] = int(seed)
            maps = fn(model, x, target, references=references, **kwargs)
        elif callable(method):
            maps = method(model, x, target, **kwargs)
        else:  # a Captum attribution object, rebuilt for the randomized model
            maps = get_method(method)(model, x, target, **kwargs)
    return maps.detach()


def _rows(method: str, randomization: str, step: int, layer: str, values: Mapping[str, np.ndarray]
          ) -> List[Dict[str, Any]]:
    rows = []
    for metric, v in values.items():
        finite = v[np.isfinite(v)]
        rows.append({"method": method, "randomization": randomization, "step": step,
                     "layer": layer, "metric": metric,
                     "mean": float(finite.mean()) if len(finite) else float("nan"),
                     "se": standard_error(finite), "n": int(len(finite))})
    return rows


def model_randomization(model: nn.Module, methods: Sequence[Method], x: Tensor,
                        target: Any = None, modes: Iterable[str] = RANDOMIZATIONS,
                        metrics: Iterable[str] = METRICS, seed: int = 0,
                        hparams: Optional[Mapping[str, Mapping[str, Any]]] = None,
                        references: Optional[Tensor] = None, keep_maps: int = 1,
                        ) -> Tuple[pd.DataFrame, Dict[str, Dict[str, List[Tuple[str, Tensor]]]]]:
    """Similarity of each randomized model's maps to the trained model's, per layer.

    ``methods``: registered names, callables ``(model, inputs, target)`` or Captum attribution
    objects, or a mapping ``{name: method}`` to list them under the given names.

    Returns ``(frame, maps)``: ``frame`` has one row per (method, randomization, layer, metric)
    with ``mean``, ``se`` and ``n`` over the examples of ``x`` (``step`` 0 is the trained model,
    similarity 1 by definition; step ``i`` the ``i``-th layer from the top); ``maps[mode][method]``
    lists ``(layer, maps[:keep_maps])`` starting with ``("original", ...)``.
    """
    model = model.eval()
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    metrics = list(metrics)
    if isinstance(methods, Mapping):  # {name: method}: listed under the user's names
        names, methods = [str(k) for k in methods], list(methods.values())
    else:
        names = [method_name(m) for m in methods]
    originals = {n: compute_maps(model, m, x, target, references, seed, hparams.get(n))
                 for n, m in zip(names, methods)}
    rows: List[Dict[str, Any]] = []
    maps: Dict[str, Dict[str, List[Tuple[str, Tensor]]]] = {}
    for mode in modes:
        maps[mode] = {n: [("original", originals[n][:keep_maps])] for n in names}
        for n in names:
            rows += _rows(n, mode, 0, "original", {m: np.ones(len(x)) for m in metrics})
        n_layers = len(parameter_layers(model))
        # cascading yields one copy mutated in place: compute its maps before the next step.
        for step, (layer, randomized) in enumerate(
                tqdm(randomized_models(model, mode, seed), total=n_layers,
                     desc=f"{mode} randomization"), start=1):
            for n, m in zip(names, methods):
                rand_maps = compute_maps(randomized, m, x, target, references, seed, hparams.get(n))
                rows += _rows(n, mode, step, layer, similarities(originals[n], rand_maps, metrics))
                kind = type(model.get_submodule(layer)).__name__
                maps[mode][n].append((f"{layer}\n({kind})", rand_maps[:keep_maps]))
    frame = pd.DataFrame(rows)
    frame["layer_type"] = [type(model.get_submodule(n)).__name__ if n != "original" else ""
                           for n in frame["layer"]]
    return frame, maps


def data_randomization(run_dir: str | Path, model: nn.Module, methods: Sequence[Method],
                       x: Tensor, target: Any = None, metrics: Iterable[str] = METRICS,
                       seed: int = 0, hparams: Optional[Mapping[str, Mapping[str, Any]]] = None,
                       references: Optional[Tensor] = None, out_dir: Optional[str | Path] = None,
                       overrides: Sequence[str] = (), keep_maps: int = 1,
                       ) -> Tuple[pd.DataFrame, Dict[str, List[Tuple[str, Tensor]]], float]:
    """Retrain the run's recipe on permuted labels (``experiment=random_labels``) and compare
    its maps with ``model``'s. Returns ``(frame, maps, random-label model's test accuracy)``;
    the job is reused when its ``result.json`` is ``ok``."""
    from ..pipeline import run
    from .roar import compose_train_config
    from .roar_data import load_run, route_overrides

    run_dir = Path(run_dir).resolve()
    job = Path(out_dir) if out_dir else run_dir / "sanity" / f"random_labels_s{seed}"
    result = job / "result.json"
    if not (result.is_file() and json.loads(result.read_text()).get("status") == "ok"):
        run(compose_train_config(["experiment=random_labels", f"roar.run={run_dir}",
                                  f"seed={seed}", f"paths.output_dir={job}",
                                  *route_overrides(overrides)]))
    random_model, _, _ = load_run(job)
    acc = json.loads(result.read_text())["metrics"].get("test/acc", float("nan"))
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    rows, maps = [], {}
    for m in methods:
        n = method_name(m)
        a = compute_maps(model.eval(), m, x, target, references, seed, hparams.get(n))
        b = compute_maps(random_model, m, x, target, references, seed, hparams.get(n))
        rows += _rows(n, "labels", 1, "permuted labels", similarities(a, b, metrics))
        maps[n] = [("original", a[:keep_maps]), ("permuted labels", b[:keep_maps])]
    return pd.DataFrame(rows), maps, acc


def run_sanity(run_dir: str | Path, methods: Sequence[Method] = ("grad", "smoothgrad", "ig"),
               n_examples: int = 32, out_dir: Optional[str | Path] = None,
               modes: Iterable[str] = RANDOMIZATIONS, labels: bool = True,
               metrics: Iterable[str] = METRICS, seed: int = 0,
               hparams: Optional[Mapping[str, Mapping[str, Any]]] = None,
               target: str = "label", overrides: Sequence[str] = ()) -> pd.DataFrame:
    """All sanity checks on the first ``n_examples`` test inputs of a trained run.

    Writes to ``out_dir`` (default ``<run>/sanity``): ``sanity.csv``, ``sanity_<mode>.png``
    (similarity per layer, one line per method, a panel per metric) and
    ``sanity_maps_<mode>.png`` (rows = methods, columns = input, original map, each randomized
    layer); with ``labels`` also the data-randomization rows and ``sanity_maps_labels.png``.
    """
    from .roar_data import load_run, split_tensors
    from .sanity_plot import plot_map_grid, plot_similarity

    run_dir = Path(run_dir).resolve()
    out = Path(out_dir) if out_dir else run_dir / "sanity"
    out.mkdir(parents=True, exist_ok=True)
    model, datamodule, _ = load_run(run_dir)
    x, y = split_tensors(datamodule, "test")[:2]
    x, y = x[:n_examples], y[:n_examples]
    references = split_tensors(datamodule, "train")[0]
    with torch.no_grad():
        tgt = attribution_target(model(x), y, target)
    frame, maps = model_randomization(model, methods, x, tgt, modes, metrics, seed, hparams,
                                      references)
    frames = [frame]
    for mode in maps:
        plot_similarity(frame[frame["randomization"] == mode], out / f"sanity_{mode}.png",
                        title=f"{mode} model-parameter randomization",
                        xlabel="randomized down to layer (top layer first)"
                        if mode == "cascading" else "the only randomized layer")
        plot_map_grid(maps[mode], x[:1], out / f"sanity_maps_{mode}.png",
                      title=f"{mode} randomization: maps of one test input",
                      columns="randomized down to that layer" if mode == "cascading"
                      else "only that layer randomized")
    if labels:
        lab, lab_maps, acc = data_randomization(run_dir, model, methods, x, tgt, metrics, seed,
                                                hparams, references, overrides=overrides)
        lab["random_label_test_acc"] = acc
        frames.append(lab)
        plot_map_grid(lab_maps, x[:1], out / "sanity_maps_labels.png",
                      title=f"data randomization (test acc. of the permuted-label model {acc:.2f})",
                      columns="trained on true labels, on permuted labels")
    result = pd.concat(frames, ignore_index=True)
    result.to_csv(out / "sanity.csv", index=False)
    return result
