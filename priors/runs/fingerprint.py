"""Fingerprints of what a run was built from, to check that an evaluation uses the same.

``evaluate.py`` rebuilds a run's data from its saved config. A CSV edited after training, or a
``data.seed`` changed in ``result.json``, gave a different test split (with training rows in
it) and no word. :func:`data_fingerprint` records, per split, the number of examples and a
SHA-256 of its tensors (or of its file list for file-backed image folders), the split indices
where the datamodule keeps them, the SHA-256 of the data files it read, and a copy of the
config that builds the data (``seed``, ``data``, ``model``). :func:`data_changes` compares a
recorded fingerprint with a fresh one and says, in words, what changed.
:func:`model_entry` / :func:`check_model_file` do the same for ``model.pt``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import torch
from torch.utils.data import Subset, TensorDataset

SPLITS = ("train", "val", "test")
# Config nodes that decide the data and the architecture of a run.
CONFIG_KEYS = ("seed", "data", "model")
# Datamodule attributes that name the files it reads (CSVDataModule: path, label_path).
FILE_ATTRIBUTES = ("path", "label_path")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _update(digest: "hashlib._Hash", value: Any) -> None:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().contiguous()
        digest.update(f"{value.dtype}{tuple(value.shape)}".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    elif isinstance(value, np.ndarray):
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    else:
        digest.update(repr(value).encode())


def dataset_digest(dataset: Any) -> Optional[str]:
    """SHA-256 of a dataset's content where that is cheap: the tensors of a
    ``TensorDataset``, a ``Subset``'s indices and base, an ``ImageFolder``'s file list
    (path, size, class); ``None`` for other datasets."""
    digest = hashlib.sha256()
    if isinstance(dataset, TensorDataset):
        for tensor in dataset.tensors:
            _update(digest, tensor)
    elif isinstance(dataset, Subset):
        base = dataset_digest(dataset.dataset)
        if base is None:
            return None
        digest.update(base.encode())
        _update(digest, np.asarray(dataset.indices))
    elif isinstance(getattr(dataset, "samples", None), list):
        for file, label in dataset.samples:
            size = os.path.getsize(file) if os.path.exists(file) else -1
            digest.update(f"{file}\0{size}\0{label}\n".encode())
    else:
        return None
    return digest.hexdigest()


def _data_files(datamodule: Any) -> Dict[str, str]:
    files = {}
    for name in FILE_ATTRIBUTES:
        value = getattr(datamodule, name, None)
        if isinstance(value, (str, os.PathLike)) and Path(value).is_file():
            files[str(Path(value).resolve())] = sha256_file(value)
    return files


def _config_part(cfg: Any) -> Dict[str, Any]:
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    cfg = dict(cfg or {})
    return {k: cfg.get(k) for k in CONFIG_KEYS if k in cfg}


def data_fingerprint(datamodule: Any, cfg: Any = None) -> Dict[str, Any]:
    """What the run's data was built from: config, files, and per split size and digest."""
    splits = {}
    for split in SPLITS:
        dataset = getattr(datamodule, f"{split}_dataset", None)
        if dataset is None:
            continue
        splits[split] = {"n": len(dataset), "sha256": dataset_digest(dataset)}
    state = getattr(datamodule, "_state", None)  # TabularDataModule keeps its split indices
    for split in SPLITS:
        idx = getattr(state, f"{split}_idx", None)
        if idx is not None and split in splits:
            digest = hashlib.sha256()
            _update(digest, np.asarray(idx))
            splits[split]["indices_sha256"] = digest.hexdigest()
    return {"config": _config_part(cfg), "files": _data_files(datamodule), "splits": splits}


def _flatten(node: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(node, Mapping):
        out: Dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): node}


def config_changes(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> List[str]:
    """``key: old -> new`` for every leaf of the two config snapshots that differs."""
    a, b = _flatten(recorded), _flatten(current)
    return [f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
            for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]


def data_changes(recorded: Optional[Mapping[str, Any]], current: Mapping[str, Any]) -> List[str]:
    """Why the data built now is not the data the run was trained on (empty: the same).

    A run without a recorded fingerprint (trained before fingerprints existed) gives one
    reason saying so."""
    if not recorded:
        return ["result.json records no data fingerprint (a run trained before fingerprints, "
                "or an incomplete result.json): the data cannot be checked"]
    reasons = []
    # The model part is checked against the weights (priors.runs.weights), not here.
    changed = config_changes({k: v for k, v in (recorded.get("config") or {}).items()
                              if k != "model"},
                             {k: v for k, v in (current.get("config") or {}).items()
                              if k != "model"})
    if changed:
        reasons.append("the saved config was edited since training (" + "; ".join(changed) + ")")
    old_files, new_files = recorded.get("files") or {}, current.get("files") or {}
    for path, digest in old_files.items():
        if path not in new_files:
            now = (f"it is now {sha256_file(path)[:12]}" if Path(path).is_file()
                   else "it is missing now")
            reasons.append(f"the data file {path} is not the one read now ({now})")
        elif new_files[path] != digest:
            reasons.append(f"the CSV/data file {path} changed since training (sha256 "
                           f"{digest[:12]}... then, {new_files[path][:12]}... now)")
    for split, old in (recorded.get("splits") or {}).items():
        new = (current.get("splits") or {}).get(split)
        if new is None:
            reasons.append(f"the {split} split no longer exists")
            continue
        if old.get("n") != new.get("n"):
            reasons.append(f"the {split} split has {new.get('n')} examples now, "
                           f"{old.get('n')} at training")
        elif old.get("indices_sha256") != new.get("indices_sha256"):
            reasons.append(f"the {split} split holds other rows than at training")
        elif old.get("sha256") != new.get("sha256"):
            reasons.append(f"the {split} split's values differ from those at training")
    return reasons


def model_entry(path: str | os.PathLike) -> Dict[str, Any]:
    """``{"file", "sha256", "bytes"}`` of a weights file, for ``result.json``."""
    path = Path(path)
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def check_model_file(path: str | os.PathLike,
                     recorded: Optional[Mapping[str, Any]]) -> Optional[str]:
    """Why ``path`` is not the weights file ``recorded`` describes (``None``: it is)."""
    if not recorded or not recorded.get("sha256"):
        return None
    path = Path(path)
    if sha256_file(path) != recorded["sha256"]:
        return (f"{path} is not the model result.json describes ({path.stat().st_size} bytes, "
                f"{recorded.get('bytes', '?')} recorded; sha256 differs): another run wrote it "
                "after this result.json")
    return None
