"""priors: training-time attribution priors for PyTorch Lightning and Hydra.

``from priors import Prior`` needs torch only: the public names are exported lazily (module
``__getattr__``), so Lightning (``PriorModule``), Hydra, pandas and matplotlib are imported by
the code that uses them, not by ``import priors``. The Hydra entry points register the
configs' resolvers themselves (:mod:`priors.config`).
"""
from __future__ import annotations

import importlib
from typing import Any

from ._old_paths import install as _install_old_paths

_install_old_paths()  # priors.prior, priors.module, ... : the modules' paths before the layout

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first access)
_EXPORTS = {
    **dict.fromkeys(
        ("ReferenceSampler", "attribute", "available_methods", "expected_gradients", "get_method",
         "gradient", "input_x_gradient", "integrated_gradients", "log_prob_gradient",
         "smoothgrad"), "priors.attributions"),
    "PriorModule": "priors.lightning.module",
    "Prior": "priors.training.prior",
    "PriorOutput": "priors.training.prior",
    **dict.fromkeys(
        ("NonHomogeneousError", "assert_homogeneous", "check_homogeneity", "find_non_homogeneous",
         "to_xdnn"), "priors.training.xdnn"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'priors' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
