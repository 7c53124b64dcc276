"""Loading a run's ``model.pt`` with errors that say what is wrong with the file.

``torch.load`` on a damaged file raises ``EOFError`` (0 bytes), a zip-reader ``RuntimeError``
(truncated) or an unpickling error whose text advises ``weights_only=False``, which is wrong
here: a weights file holds tensors only, and loading it with full unpickling would run
whatever code a corrupt or foreign file carries. A mismatch between the config and the
weights gave raw ``state_dict`` key lists. :func:`read_weights` and :func:`load_weights` name
the file and say whether it is truncated, corrupt or from another architecture.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import nn

from .fingerprint import check_model_file, config_changes


class WeightsError(RuntimeError):
    """``model.pt`` is missing, truncated, corrupt, or does not fit the configured model."""


def read_weights(path: str | os.PathLike,
                 recorded: Optional[Mapping[str, Any]] = None) -> Dict[str, torch.Tensor]:
    """The state dict in ``path``; ``recorded`` is ``result.json``'s entry for the file."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise WeightsError(f"{path} is empty (0 bytes): it was truncated, e.g. by a run killed "
                           "while saving it; retrain the run")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - every failure gets the same explanation
        if recorded and size < recorded.get("bytes", size):
            why = (f"truncated: {size} bytes, result.json records {recorded['bytes']} (an "
                   "interrupted write)")
        elif zipfile.is_zipfile(path):
            why = ("corrupt: a torch archive whose content cannot be read as weights "
                   f"({type(err).__name__})")
        elif _looks_truncated(path):
            why = "truncated: the torch archive ends before its directory (an interrupted write)"
        else:
            why = "corrupt: not a torch weights file"
        # "from None": torch's own message suggests weights_only=False, which is unsafe here.
        raise WeightsError(f"{path} cannot be loaded ({size} bytes): {why}. Retrain the run; "
                           "do not load it with full unpickling") from None
    mismatch = check_model_file(path, recorded)  # readable, but not the recorded file
    if mismatch:
        raise WeightsError(mismatch)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor)
                                                 for v in state.values()):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state_dict of "
                           "tensors (model.state_dict(), as train.py saves it)")
    return dict(state)


def _looks_truncated(path: Path) -> bool:
    """A zip archive (torch's format) starts with ``PK``; if it does but is no valid zip, its
    end (the central directory) is missing: truncated."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"PK"


def load_weights(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike,
                 trained_config: Optional[Mapping[str, Any]] = None,
                 config: Optional[Mapping[str, Any]] = None) -> None:
    """``model.load_state_dict(state)``; on a mismatch, a :class:`WeightsError` that lists the
    missing, unexpected and reshaped parameters and the ``model.*`` config keys that differ
    between ``trained_config`` (recorded at training) and ``config`` (used now)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [f"{k} {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model"
                for k in own if k in state and state[k].shape != own[k].shape]
    if not (missing or unexpected or reshaped):
        model.load_state_dict(state)
        return
    parts: List[str] = []
    for label, items in (("missing", missing), ("unexpected", unexpected),
                         ("shape mismatch", reshaped)):
        if items:
            parts.append(f"{label}: {', '.join(items[:6])}" + (" ..." if len(items) > 6 else ""))
    keys = config_changes((trained_config or {}).get("model") or {},
                          (config or {}).get("model") or {}) if trained_config else []
    cause = (f"; config keys that differ from training: {'; '.join('model.' + k for k in keys)}"
             if keys else "")
    raise WeightsError(f"{path} is from another architecture than the configured "
                       f"{type(model).__name__} ({' | '.join(parts)}){cause}")
