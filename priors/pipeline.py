"""Moved to :mod:`priors.app.pipeline` (this path re-exports it)."""
from .app.pipeline import (AUTO_SIZES, WEIGHTS_FILE, build, build_datamodule,  # noqa: F401
                           build_model, run)
