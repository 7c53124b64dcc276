"""Compose ``priors-train``'s config in-process (ROAR retrainings, the sanity checks' permuted
labels), also from inside another Hydra app such as ``priors-evaluate``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from . import TRAIN_CONF


def compose_train_config(overrides: Sequence[str], config_dir: Optional[str | Path] = None):
    """``train.yaml`` composed with ``overrides`` (as on the command line). The global Hydra
    state of a running app (its config tree is a different one) is set aside and restored."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton

    from .resolvers import register_resolvers

    register_resolvers()
    saved = Singleton._instances.pop(GlobalHydra, None)  # the running app's, if any
    try:
        with initialize_config_dir(config_dir=str(Path(config_dir or TRAIN_CONF).resolve()),
                                   version_base="1.3"):
            return compose("train", overrides=list(overrides))
    finally:
        if saved is not None:
            Singleton._instances[GlobalHydra] = saved
