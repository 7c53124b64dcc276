"""One intra-op thread for a block of tests.

Tiny models train faster and steadier on one thread: with more OpenMP threads than free cores
(a shared 2-core machine), spinning threads make small steps up to 10x slower.
"""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
