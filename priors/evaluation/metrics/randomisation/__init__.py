"""Randomisation metrics: an explanation should change when the model or the class does."""
from . import mprt, random_logit, sanity  # noqa: F401
