"""Shared helpers of the benchmarks: models and batches, timing, peak memory of one call."""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from priors.models import MLP, ViT, XAlexNet, XResNet50, XVGG16  # noqa: E402

MODELS = ("xalexnet", "xvgg16", "xresnet50", "nhanes", "vit")


def common_args(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions (median)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--min-rep-seconds", type=float, default=0.2,
                        help="a timed repetition repeats a fast call until it lasts this long")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (CPU); default: torch's choice")
    return parser


def setup(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"median of {args.reps} timed repetitions after {args.warmup} warm-up")


def model_and_batch(name: str, device: str, seed: int = 0):
    """``(model, x, y, task, references)``: X-AlexNet on 16 x 3x128x128 (100 classes); X-VGG16
    and X-ResNet-50 at a quarter of the width on 16 x 3x64x64 (100 classes); or the NHANES
    X-MLP on a full small-data batch; or a 6-block ViT-Tiny on 16 x 3x64x64 (100 patients x 18 features; the real subset when
    data/nhanes holds it, else standard-normal features with random labels)."""
    torch.manual_seed(seed)
    images = {"xalexnet": (lambda: XAlexNet(num_classes=100), 128),
              "xvgg16": (lambda: XVGG16(num_classes=100, width=0.25, hidden=512), 64),
              "xresnet50": (lambda: XResNet50(num_classes=100, width=0.25), 64)}
    if name in images:
        make, size = images[name]
        model = make()
        x = torch.randn(16, 3, size, size)
        y = torch.randint(0, 100, (16,))
        refs = torch.randn(64, 3, size, size)
        task = "multiclass"
    elif name == "vit":  # ViT-Tiny layout (dim 192, 3 heads) at 6 blocks on 3x64x64, patch 8
        model = ViT(image_size=64, patch_size=8, in_channels=3, num_classes=100, depth=6,
                    heads=3, dim=192)
        x = torch.randn(16, 3, 64, 64)
        y = torch.randint(0, 100, (16,))
        refs = torch.randn(64, 3, 64, 64)
        task = "multiclass"
    elif name == "nhanes":
        x, y, refs = _nhanes_batch(seed)
        model = MLP(x.shape[1], hidden=(512, 128, 32), bias=False)
        task = "binary"
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
    return model.to(device), x.to(device), y.to(device), task, refs.to(device)


def _nhanes_batch(seed: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    root = Path(__file__).resolve().parents[1]
    try:
        from priors.data import NHANESDataModule
        dm = NHANESDataModule(data_dir=str(root / "data" / "nhanes"), split="small_data",
                              n_train=100, n_val=100, seed=seed)
        dm.setup("fit")
        x, y = dm.train_dataset.tensors
        return x, y, x
    except Exception as err:  # noqa: BLE001 - timings do not depend on the values
        print(f"# NHANES data unavailable ({type(err).__name__}); random 100 x 18 batch")
        x = torch.randn(100, 18)
        return x, (torch.rand(100) < 0.2).float(), x


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_interleaved(fns: Dict[str, Callable[[], object]], device: str, reps: int,
                     warmup: int, min_seconds: float = 0.05) -> Dict[str, float]:
    """Median seconds per call of each function over ``reps`` timed repetitions. Calls are
    interleaved (one repetition of each per round), so load changes on a shared machine hit
    every function alike; a repetition of a fast function runs it several times in a row, as
    many as make the repetition last about ``min_seconds`` (estimated in the warm-up)."""
    first: Dict[str, float] = {k: float("inf") for k in fns}
    for _ in range(max(warmup, 1)):
        for key, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            first[key] = min(first[key], time.perf_counter() - start)
    inner = {k: max(1, int(min_seconds / max(t, 1e-6))) for k, t in first.items()}
    times: Dict[str, list] = {k: [] for k in fns}
    for _ in range(reps):
        for key, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(inner[key]):
                fn()
            sync(device)
            times[key].append((time.perf_counter() - start) / inner[key])
    return {k: statistics.median(v) for k, v in times.items()}


def _proc_kb(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1))


def exact_cpu_memory() -> None:
    """Make glibc serve every allocation above 16 KiB by mmap and return it on free, so that the
    resident set follows live tensor memory (call after the timings: it slows allocation)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_MMAP_THRESHOLD, 16 * 1024)
    libc.mallopt(M_TRIM_THRESHOLD, 0)
    _release_free_heap()


def _release_free_heap() -> None:
    """Hand free heap pages back to the OS (glibc ``malloc_trim``), so that a later allocation
    that reuses them shows in the resident set rather than hiding in memory already counted."""
    import ctypes
    import ctypes.util

    ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)


def peak_memory_mb(fn: Callable[[], object], device: str,
                   prepare: Callable[[], object] = lambda: None) -> float:
    """Peak memory of one call above the memory in use before it, in MiB. CUDA: the caching
    allocator's peak; CPU (Linux): the process's resident-set high-water mark, reset through
    /proc/self/clear_refs, after :func:`exact_cpu_memory` (page-granular: small allocations
    below 16 KiB go unseen). ``prepare`` runs first, outside the measurement."""
    prepare()
    if device.startswith("cuda"):
        sync(device)
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        sync(device)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    _release_free_heap()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = _proc_kb("VmRSS")
    fn()
    return (_proc_kb("VmHWM") - before) / 1024


def saved_for_backward_mb(fn: Callable[[], object], exclude=()) -> float:
    """MiB of distinct tensor storages autograd saves for backward during one call (including
    the graph of a double backward), parameters in ``exclude`` left out: the activation memory
    a prior adds, exact and independent of the allocator."""
    skip = {p.untyped_storage().data_ptr() for p in exclude}
    seen: Dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values()) / 2**20


def print_table(rows, header) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def check(name: str, ok: bool, detail: str) -> bool:
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    return ok


def profile_top(fn: Callable[[], object], device: str, rows: int, steps: int = 3) -> str:
    """``torch.profiler``'s operators by self time over ``steps`` calls of ``fn`` (after one
    call outside the profile), as a table of ``rows`` rows: where a step's time goes."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                           if device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            fn()
        sync(device)
    key = "self_cuda_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=44)
