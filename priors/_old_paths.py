"""Old module paths of the flat layout, served as aliases of the moved modules.

``import priors.prior`` (or ``from priors.module import PriorModule``, a Hydra ``_target_:
priors.data.modified.RoarDataModule``, ``monkeypatch.setattr(priors.step, ...)``) gets the one
real module object (``priors.training.prior`` ...), so every name, private ones included, keeps
working and a patch reaches the code that reads it. The old paths are not files: with no file
left behind, git follows each move as a rename when parallel branches merge, and a module is
imported only when someone asks for it (``import priors`` stays light).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: old dotted path -> the module it moved to
MOVED = {
    "priors.checks": "priors.core.checks",
    "priors.batch": "priors.core.batch",
    "priors.task": "priors.core.task",
    "priors.norm_stats": "priors.core.norm_stats",
    "priors.attributions._target": "priors.core.targets",
    "priors.prior": "priors.training.prior",
    "priors.step": "priors.training.step",
    "priors.xdnn": "priors.training.xdnn",
    "priors.module": "priors.lightning.module",
    "priors.references": "priors.lightning.references",
    "priors.resume_state": "priors.lightning.resume_state",
    "priors.data.modified": "priors.evaluation.modified_data",
}


class _OldPathFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths of :data:`MOVED`; loading one returns the moved module itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        self._spec = module.__spec__  # the import system overwrites it; exec_module restores it
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec


def install() -> None:
    """Add the finder once, first: an editable install's finder would otherwise serve a stale
    file of an old name from another checkout."""
    if not any(isinstance(f, _OldPathFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _OldPathFinder())
