"""The one latency-measurement protocol every number in mixsearch comes from.

Protocol: inside `torch.inference_mode()`, run `warmup` untimed calls, then time `repeats` calls one by one and
report their median (robust to scheduler noise). On CUDA each call is timed with CUDA events after a
synchronisation; on the CPU with `time.perf_counter`, with torch's intra-op thread count fixed for the run.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

DEFAULT_WARMUP = 10
DEFAULT_REPEATS = 50


@dataclass(frozen=True)
class Latency:
    """Summary of repeated timings in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int


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


def time_calls(
    fn: Callable[[], object], device: torch.device, repeats: int
) -> list[float]:
    """Milliseconds of `repeats` single calls of `fn` on `device` (no warm-up)."""
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
    """Median latency of `fn()` on `device` under the protocol above."""
    device = torch.device(device)
    with torch.inference_mode(), fixed_threads(threads):
        for _ in range(warmup):
            fn()
        return summarize(time_calls(fn, device, repeats))
