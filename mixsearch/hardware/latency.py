"""The one latency-measurement protocol every number in mixsearch comes from.

Inside `torch.inference_mode()`: `warmup` untimed calls, then `repeats` calls timed one by one (CUDA events after
a synchronisation on a GPU, `time.perf_counter` with a fixed intra-op thread count on the CPU, the garbage
collector paused), reported as their 10th percentile (`Latency.ms`): other processes only ever add time, so the
low end is the undisturbed latency. Things measured together go through `measure_interleaved`: the protocol once
per round for each, round after round, so that a burst of load spoils one round of many measurements rather than
every call of one (how well that repeats: `benchmarks/latency_predictor.py`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch

DEFAULT_WARMUP = 10
DEFAULT_REPEATS = 50
DEFAULT_ROUNDS = 10
# mallopt(3) parameters: blocks up to 32 MiB (the largest mmap threshold glibc allows on 64-bit) come from the
# heap, and the heap is never trimmed while timing.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
_TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024
_allocator_pinned: bool | None = None


@dataclass(frozen=True)
class Latency:
    """Summary of repeated timings in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int

    @property
    def ms(self) -> float:
        """The protocol's number: the 10th percentile of the timed calls (see the module docstring)."""
        return self.p10_ms


@contextmanager
def fixed_threads(threads: int | None) -> Iterator[None]:
    """Pin torch's CPU thread count for the duration (None leaves it as is)."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def steady_allocator() -> bool:
    """Pin glibc malloc's mmap and trim thresholds (once per process); False where there is no glibc.

    glibc hands large freed blocks back to the OS and trims the heap, so a forward pass holding several
    activations page-faults them in afresh on every call, depending on what the process allocated before (a
    module then cost 1.5-3x the sum of its ops). Pinned, freed activations stay in the heap and are reused: the
    steady state of a long-running inference loop, as with the caching allocators PyTorch's CPU guide recommends.
    """
    global _allocator_pinned
    if _allocator_pinned is None:
        _allocator_pinned = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        _allocator_pinned = bool(
            mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
            and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
        )
    return _allocator_pinned


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's garbage collector off for the duration (restored as it was)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def time_calls(
    fn: Callable[[], object], device: torch.device, repeats: int
) -> list[float]:
    """Milliseconds of `repeats` single calls of `fn` on `device` (no warm-up), the garbage collector paused."""
    with gc_paused():
        return _time_calls(fn, device, repeats)


def _time_calls(
    fn: Callable[[], object], device: torch.device, repeats: int
) -> list[float]:
    times = []
    if device.type == "cuda":
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
                enable_timing=True
            )
            torch.cuda.synchronize(device)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
        return times
    steady_allocator()
    for _ in range(repeats):
        start_s = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start_s) * 1e3)
    return times


def summarize(times_ms: list[float]) -> Latency:
    deciles = (
        statistics.quantiles(times_ms, n=10) if len(times_ms) > 1 else times_ms * 9
    )
    return Latency(statistics.median(times_ms), deciles[0], deciles[-1], len(times_ms))


def measure_latency(
    fn: Callable[[], object],
    device: torch.device | str = "cpu",
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    threads: int | None = None,
) -> Latency:
    """Latency of `fn()` on `device` under the protocol above (one round)."""
    return measure_interleaved([fn], device, warmup, repeats, threads, rounds=1)[0]


T = TypeVar("T")


def measure_interleaved(
    fns: Sequence[Callable[[], object]],
    device: torch.device | str = "cpu",
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    threads: int | None = None,
    rounds: int = DEFAULT_ROUNDS,
    progress: Callable[[Iterable[T]], Iterable[T]] = iter,
) -> list[Latency]:
    """The protocol for every one of `fns`, once per round, round after round over all of them.

    Per function the timed calls of all rounds are pooled into one `Latency`. Other processes on the machine only
    ever add time, and in bursts: interleaving spreads a burst over one round of many measurements instead of
    every call of one. `progress` wraps the (round, index) jobs, e.g. in a progress bar.
    """
    device = torch.device(device)
    if device.type == "cpu":
        steady_allocator()
    times: list[list[float]] = [[] for _ in fns]
    jobs = [(r, i) for r in range(rounds) for i in range(len(fns))]
    with torch.inference_mode(), fixed_threads(threads):
        for _, i in progress(jobs):
            for _ in range(warmup):
                fns[i]()
            times[i].extend(time_calls(fns[i], device, repeats))
    return [summarize(calls) for calls in times]
