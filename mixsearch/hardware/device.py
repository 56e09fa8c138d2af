"""A `Target` (plain data, `space.sections`) as torch sees it: device, dtype, memory format, threads, inputs."""

from __future__ import annotations

import platform
from dataclasses import replace
from pathlib import Path

import torch

from mixsearch.errors import MixsearchError
from mixsearch.space.sections import DEVICE_PATTERN, Shape, Target

# Threads torch uses while measuring on the CPU when the target names none (see `measurement_threads`).
DEFAULT_CPU_THREADS = 1
DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def torch_device(target: Target) -> torch.device:
    """`auto` is the first GPU when there is one, else the CPU; ValueError for a GPU torch cannot see (its index
    checked before torch reads it: torch wraps an index over 127 around, and fails on one over 2**63).
    """
    if target.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind, _, index = target.device.partition(":")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ValueError(
                f"target device {target.device!r} asked for, but torch sees no CUDA device"
            )
        if index and int(index) >= count:
            raise ValueError(
                f"target device {target.device!r} asked for, but torch sees {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
    return torch.device(target.device)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name as /proc/cpuinfo gives it (else what platform knows)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def on_device(target: Target, device: str | None = None) -> Target:
    """`target`, moved to `device` when given (auto, cpu, cuda, cuda:N), checked to exist on this machine."""
    if device is not None:
        if not DEVICE_PATTERN.fullmatch(device):
            raise MixsearchError(
                f"--device must be auto, cpu, cuda or cuda:N, got {device!r}"
            )
        target = replace(target, device=device)
    try:
        torch_device(target)
    except ValueError as error:
        where = "--device: " if device is not None else ""
        raise MixsearchError(f"{where}{error}") from None
    check_runtime(target)
    return target


def measurement_threads(target: Target) -> int:
    """torch's intra-op thread count while measuring: `threads`, else 1 on the CPU, else torch's current count.

    One thread on the CPU by default: these modules are small and memory-bound, so a second thread gains little,
    while a thread the OS deschedules (any other process on the machine) stalls the whole call at the next
    barrier, so timings with several threads vary far more from run to run.
    """
    if target.threads is not None:
        return target.threads
    if torch_device(target).type == "cpu":
        return DEFAULT_CPU_THREADS
    return torch.get_num_threads()


def torch_dtype(target: Target) -> torch.dtype:
    return DTYPES[target.dtype]


def memory_format(target: Target) -> torch.memory_format:
    return torch.channels_last if target.channels_last else torch.contiguous_format


def example_input(target: Target, shape: Shape) -> torch.Tensor:
    """A random input of `shape` on the target device, dtype and memory format."""
    x = torch.randn(shape, dtype=torch.float32)
    return x.to(torch_device(target), torch_dtype(target)).contiguous(
        memory_format=memory_format(target)
    )


def check_runtime(target: Target) -> None:
    """MixsearchError for a runtime this target cannot measure in (onnxruntime: the CPU, float32 or float16)."""
    if target.runtime != "onnxruntime":
        return
    if torch_device(target).type != "cpu":
        raise MixsearchError(
            "target runtime onnxruntime is measured on the CPU only; use device: cpu"
        )
    if target.dtype == "bfloat16":
        raise MixsearchError(
            "target runtime onnxruntime takes float32 or float16 inputs, not bfloat16"
        )
