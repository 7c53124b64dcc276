"""Complexity metrics: how concentrated (how few features) an explanation is."""
from . import complexity, effective_complexity, sparseness  # noqa: F401
