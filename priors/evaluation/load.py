"""Re-create a finished training run: its config, datamodule, model with the selected weights."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from ..core.batch import parse_batch
from ..runs.build import WEIGHTS_FILE, build_datamodule, build_model


@dataclass
class LoadedRun:
    """A training run ready for evaluation (model in eval mode, on the CPU)."""

    run_dir: Path
    config: DictConfig
    result: dict
    datamodule: Any
    model: nn.Module

    @property
    def task(self) -> str:
        classes = getattr(self.datamodule, "num_classes", 1)
        return getattr(self.datamodule, "task", "binary" if classes == 1 else "multiclass")

    @property
    def num_classes(self) -> Optional[int]:
        return getattr(self.datamodule, "num_classes", None) if self.task == "multiclass" else None


def run_config(run_dir: str | Path) -> Tuple[DictConfig, dict]:
    """The resolved config of a run (``result.json``'s, else ``.hydra/config.yaml``) and its
    ``result.json`` content (``{}`` without one)."""
    run_dir = Path(run_dir)
    result_file = run_dir / "result.json"
    result: dict = {}
    if result_file.is_file():
        result = json.loads(result_file.read_text())
    if result.get("config"):
        return OmegaConf.create(result["config"]), result
    hydra_cfg = run_dir / ".hydra" / "config.yaml"
    if not hydra_cfg.is_file():
        raise FileNotFoundError(f"{run_dir} is not a training run: it has neither result.json "
                                "with a config nor .hydra/config.yaml")
    cfg = OmegaConf.load(hydra_cfg)
    cfg.paths.output_dir = str(run_dir)  # ${hydra:...} cannot resolve outside the job
    return cfg, result


def find_runs(path: str | Path) -> List[Path]:
    """``[path]`` if it is a trained run (holds ``model.pt``), else every run below it (e.g.
    the jobs of a multirun folder), sorted; ``FileNotFoundError`` if there is none."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no such run directory: {path}")
    if (path / WEIGHTS_FILE).is_file():
        return [path]
    runs = sorted({p.parent for p in path.rglob(WEIGHTS_FILE)},
                  key=lambda p: [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in p.parts])
    if not runs:
        raise FileNotFoundError(
            f"{path} holds no trained run (no {WEIGHTS_FILE} in it or below it): only runs "
            "trained by this version of train.py (which saves the selected weights) can be "
            "evaluated")
    return runs


def load_run(run_dir: str | Path, threads: Optional[int] = None) -> LoadedRun:
    """Datamodule and model of ``run_dir`` from its saved config, with ``model.pt`` loaded."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no such run directory: {run_dir}")
    weights = run_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(
            f"{run_dir} has no {WEIGHTS_FILE}: only runs trained by this version of train.py "
            "(which saves the selected weights) can be evaluated; retrain it")
    cfg, result = run_config(run_dir)
    if threads:
        cfg.threads = int(threads)
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return LoadedRun(run_dir, cfg, result, datamodule, model)


def dataset_tensors(dataset: Any, n: Optional[int] = None, seed: int = 0,
                    batch_size: int = 256) -> Tuple[Tensor, Tensor]:
    """``(x, y)`` of a dataset, all of it or ``n`` examples drawn without replacement."""
    total = len(dataset)
    if total == 0:
        raise ValueError("the evaluation dataset is empty")
    idx = None
    if n is not None and n < total:
        idx = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors[0], dataset.tensors[1]
        return (x, y) if idx is None else (x[idx], y[idx])
    indices = range(total) if idx is None else idx.tolist()
    xs, ys = [], []
    for start in range(0, len(indices), batch_size):
        items = [dataset[int(i)] for i in indices[start:start + batch_size]]
        batch = parse_batch(tuple(torch.stack([torch.as_tensor(it[k]) for it in items])
                                  for k in range(len(items[0]))), who="evaluation")
        xs.append(batch.x)
        ys.append(batch.y)
    return torch.cat(xs), torch.cat(ys)


def split_dataset(datamodule: Any, split: str) -> Any:
    """The datamodule's ``{split}_dataset`` (``train``, ``val`` or ``test``)."""
    dataset = getattr(datamodule, f"{split}_dataset", None)
    if dataset is None:
        raise ValueError(f"the datamodule {type(datamodule).__name__} has no {split}_dataset; "
                         "split must be train, val or test")
    return dataset
