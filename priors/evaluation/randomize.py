"""Model-parameter randomization for the sanity checks of Adebayo et al. (NeurIPS 2018).

Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for Saliency Maps",
https://arxiv.org/abs/1810.03292: re-initialize the weights of a trained model, either
*cascading* from the top (output) layer down, each step keeping the earlier randomizations,
or *independently*, one layer at a time with all others trained. A layer is re-initialized
with its own ``reset_parameters`` (its default initialization) on a deep copy, so the trained
model is never modified.
"""
from __future__ import annotations

import copy
from typing import Iterator, List, Optional, Tuple

import torch
from torch import nn

RANDOMIZATIONS = ("cascading", "independent")


def parameter_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of the layers holding parameters directly and defining
    ``reset_parameters`` (Linear, Conv, norm layers, ...), in definition order (input first)."""
    layers = [(name, m) for name, m in model.named_modules()
              if callable(getattr(m, "reset_parameters", None))
              and any(True for _ in m.parameters(recurse=False))]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no layer with parameters and "
                         "reset_parameters() to randomize")
    return layers


def _reset(module: nn.Module, seed: int) -> None:
    with torch.random.fork_rng(devices=[]):  # seeded, and the global RNG stays untouched
        torch.manual_seed(seed)
        module.reset_parameters()


def randomized_models(model: nn.Module, mode: str = "cascading", seed: int = 0,
                      layers: Optional[List[str]] = None) -> Iterator[Tuple[str, nn.Module]]:
    """Yield ``(layer name, randomized copy)`` from the top layer down.

    ``cascading``: the copy accumulates re-initializations (after layer ``l`` every layer above
    it is random too); ``independent``: a fresh copy with only layer ``l`` re-initialized.
    ``layers`` restricts the layers to these names (default: :func:`parameter_layers`). Each
    layer's re-initialization is seeded by ``seed`` and its position, so cascading and
    independent draw the same random weights for a layer. Copies are in eval mode.
    """
    if mode not in RANDOMIZATIONS:
        raise ValueError(f"mode must be one of {RANDOMIZATIONS}, got {mode!r}")
    names = [n for n, _ in parameter_layers(model)]
    if layers is not None:
        missing = sorted(set(layers) - set(names))
        if missing:
            raise ValueError(f"no randomizable layers {missing}; the model has {names}")
        names = [n for n in names if n in set(layers)]
    order = list(reversed(names))
    cascade = copy.deepcopy(model).eval() if mode == "cascading" else None
    for i, name in enumerate(order):
        target = cascade if cascade is not None else copy.deepcopy(model).eval()
        _reset(target.get_submodule(name), seed * 100_003 + names.index(name))
        yield name, target
