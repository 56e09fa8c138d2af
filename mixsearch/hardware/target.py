"""Where the searched module will run: device, dtype, memory format, and the input shapes it will see."""

from __future__ import annotations

from dataclasses import dataclass

import torch

# YOLOv8n's P3/P4/P5 feature maps at 640 x 640: where the module sits by default.
DEFAULT_SHAPES = ((1, 64, 80, 80), (1, 128, 40, 40), (1, 256, 20, 20))
# Threads torch uses while measuring on the CPU when the target names none (see `Target.measurement_threads`).
DEFAULT_CPU_THREADS = 1
DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


@dataclass(frozen=True)
class Target:
    """The target device and input shapes; latency and FLOPs of a module are summed over `shapes`."""

    device: str = "auto"
    dtype: str = "float32"
    shapes: tuple[tuple[int, int, int, int], ...] = DEFAULT_SHAPES
    channels_last: bool = False
    threads: int | None = None

    def torch_device(self) -> torch.device:
        """`auto` is the first GPU when there is one, else the CPU."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"target device {self.device!r} asked for, but torch sees no CUDA device"
            )
        return device

    def measurement_threads(self) -> int:
        """torch's intra-op thread count while measuring: `threads`, else 1 on the CPU, else torch's current count.

        One thread on the CPU by default: these modules are small and memory-bound, so a second thread gains little,
        while a thread the OS deschedules (any other process on the machine) stalls the whole call at the next
        barrier, so timings with several threads vary far more from run to run.
        """
        if self.threads is not None:
            return self.threads
        return (
            DEFAULT_CPU_THREADS
            if self.torch_device().type == "cpu"
            else torch.get_num_threads()
        )

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def example_input(self, shape: tuple[int, int, int, int]) -> torch.Tensor:
        """A random input of `shape` on the target device, dtype and memory format."""
        x = torch.randn(shape, dtype=torch.float32)
        return x.to(self.torch_device(), self.torch_dtype).contiguous(
            memory_format=self.memory_format
        )


@dataclass(frozen=True)
class Constraints:
    """Hard limits for a module over all target shapes; None means unconstrained."""

    latency_ms: float | None = None
    flops: float | None = None
    params: float | None = None

    def limits(self) -> dict[str, float]:
        return {name: value for name, value in vars(self).items() if value is not None}
