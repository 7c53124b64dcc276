"""Moved to :mod:`priors.app.resolvers` (this path re-exports it and registers the resolvers)."""
from .app.resolvers import model_bias, register_resolvers, run_node  # noqa: F401

register_resolvers()
