"""What a bit-identical resume from a Lightning checkpoint needs besides weights and optimizer."""
from __future__ import annotations

import random
from typing import Any, Dict, List

import numpy as np
import torch

from ..attributions import ReferenceSampler


class ExactResume:
    """LightningModule mixin: saves in each checkpoint, and restores, the global RNG states
    (torch, NumPy, Python; CUDA where used), the training dataloader's generator and the
    module's Expected Gradients :class:`ReferenceSampler` generator (attribute ``references``
    when it was created automatically, ``_auto_references``), and ``skipped_batches``.

    Exact only for checkpoints taken at epoch ends: Lightning cannot restore the position of a
    plain DataLoader within an epoch (it warns). The host calls :meth:`_restore_loader_generators`
    in ``on_train_start`` and reads ``self._restored["reference_sampler"]`` when it creates its
    sampler.
    """

    _restored: Dict[str, Any]
    skipped_batches: int

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        # Plain types and tensors only: checkpoints must load with torch.load(weights_only=True).
        state: Dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                      float(cached)],
            "python": random.getstate(), "skipped_batches": self.skipped_batches,
            "loader_generators": [g.get_state() for g in self._loader_generators()]}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        if self._auto_references and isinstance(self.references, ReferenceSampler):
            state["reference_sampler"] = self.references.state_dict()
        checkpoint["priors_state"] = state

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        state = checkpoint.get("priors_state")
        if not state:
            return
        torch.set_rng_state(state["torch"])
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        self.skipped_batches = int(state.get("skipped_batches", 0))
        # The loaders and the sampler do not exist yet: restored in on_train_start.
        self._restored = {k: state[k] for k in ("loader_generators", "reference_sampler")
                          if k in state}

    def _loader_generators(self) -> List[torch.Generator]:
        trainer = self._trainer
        loader = getattr(trainer, "train_dataloader", None) if trainer is not None else None
        found: List[torch.Generator] = []
        for holder in (loader, getattr(loader, "sampler", None),
                       getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
            gen = getattr(holder, "generator", None)
            if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
                found.append(gen)
        return found

    def _restore_loader_generators(self) -> None:
        states = self._restored.pop("loader_generators", None)
        if states is None:
            return
        gens = self._loader_generators()
        if len(gens) != len(states):
            raise RuntimeError(f"cannot resume exactly: the checkpoint holds {len(states)} "
                               f"training dataloader generator state(s), the dataloader has "
                               f"{len(gens)}")
        for g, st in zip(gens, states):
            g.set_state(st)
        # Lightning created the epoch's iterator (and drew its seed from the generator) before
        # this hook; create it again from the restored state, as the uninterrupted run did.
        fetcher = getattr(self.trainer.fit_loop, "_data_fetcher", None)
        if fetcher is None:
            raise RuntimeError("cannot resume exactly: this Lightning version has no "
                               "fit_loop._data_fetcher to restart the training iterator")
        iter(fetcher)
