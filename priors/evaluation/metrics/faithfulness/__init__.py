"""Faithfulness metrics: does removing what the explanation calls relevant change the output?"""
from . import (faithfulness_correlation, infidelity, insertion_deletion,  # noqa: F401
               keep_remove, pixel_flipping, roar, road)
