"""Import an object from a dotted path (``"package.module.name"``), as Hydra configs name them."""
from __future__ import annotations

import importlib
from typing import Any


def import_dotted(path: str, what: str) -> Any:
    """The object ``path`` names, ``"package.module.attribute"``; a ``ValueError`` naming
    ``what`` (e.g. ``"batch_fn='x.y'"``) and the cause when it cannot be imported.

    >>> import_dotted("math.sqrt", "a function")(9.0)
    3.0
    """
    module_name, _, attr = str(path).rpartition(".")
    try:
        if not module_name:
            raise ValueError("no module part")
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"{what} is not an importable 'package.module.name' path: {err}") from None
