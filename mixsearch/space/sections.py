"""What a space holds beside its graph, as plain data every stage reads: where the module runs (`Target`), what
it may cost (`Constraints`), what candidates train on (`ProxySpec`, `ProxyConfig`, `DetectionConfig`) and how
`mixsearch run` searches (`SearchSpec`, the named `BUDGETS`). Each vocabulary (devices, dtypes, colours, tasks,
strategies, budgets, objectives) is defined here once; `settings.py` parses the YAML sections into these types.
The numbers are bounded by what this machine can hold (seeds, shapes, threads, proxy images); the bounds are here.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, replace
from functools import cache

import psutil

from mixsearch.errors import MixsearchError
from mixsearch.errors import unknown as unknown_name
from mixsearch.rules import (
    Rule,
    between,
    check_fields,
    is_number,
    is_whole,
    one_of,
    whole_number,
)

# --- bounds: what this machine can hold -----------------------------------------------------------------------

# numpy's seeds are 32-bit (`np.random.seed`): every seed a space or an option gives is one of them.
SEED_MAX = 2**32 - 1
FLOAT_BYTES = 4
# No tensor a space's numbers make may take more than this share of the machine's memory: the run holds a few
# more of its size beside it (an op's intermediates and output, the dataset's uint8 copy and its batches).
MEMORY_SHARE = 4


@cache
def machine_memory() -> int:
    """This machine's memory in bytes."""
    return psutil.virtual_memory().total


def memory_problem(what: str, elements: int) -> str | None:
    """Why `elements` float32 numbers (`what`) are more than this machine can hold, or None when they fit."""
    size, memory = elements * FLOAT_BYTES, machine_memory()
    if size * MEMORY_SHARE <= memory:
        return None
    return (
        f"{what} take {size / 2**30:.3g} GiB as float32, more than a quarter of this machine's "
        f"{memory / 2**30:.3g} GiB of memory"
    )


def shape_problem(shape: tuple[int, ...]) -> str | None:
    """Why a module's N x C x H x W input is more than this machine can hold (the input itself, or a C x C weight
    of its ops, a 1 x 1 convolution's), or None when it fits."""
    channels = shape[1]
    return memory_problem(
        f"inputs of {' x '.join(map(str, shape))}", math.prod(shape)
    ) or memory_problem(f"{channels} x {channels} weights", channels**2)


def threads_problem(threads: int) -> str | None:
    """Why `threads` are more than this machine has cores, or None."""
    cores = os.cpu_count() or 1
    if threads <= cores:
        return None
    return f"{threads} threads are more than this machine's {cores} CPU cores"


# --- target: where the module runs ---------------------------------------------------------------------------

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
DTYPE_NAMES = ("float32", "float16", "bfloat16")
# Where latency is measured: eager PyTorch, torch.compile (inductor, whole graph), or ONNX Runtime.
RUNTIMES = ("eager", "compile", "onnxruntime")
# The package each runtime needs beyond torch, and how to install it.
RUNTIME_PACKAGES = {"onnxruntime": ("onnxruntime", "pip install 'mixsearch[deploy]'")}
# YOLOv8n's P3/P4/P5 feature maps at 640 x 640: where the module sits by default.
DEFAULT_SHAPES = ((1, 64, 80, 80), (1, 128, 40, 40), (1, 256, 20, 20))

Shape = tuple[int, int, int, int]


@dataclass(frozen=True)
class Target:
    """The target device and input shapes; latency and FLOPs of a module are summed over `shapes`.

    threads: CPU threads while measuring latency (None: one on the CPU, see `hardware.device`); runtime: what
    the module runs in where it is deployed, and so where its latency is measured (`RUNTIMES`).
    """

    device: str = "auto"
    dtype: str = "float32"
    shapes: tuple[Shape, ...] = DEFAULT_SHAPES
    channels_last: bool = False
    threads: int | None = None
    runtime: str = "eager"


# --- constraints: what the module may cost --------------------------------------------------------------------


@dataclass(frozen=True)
class Constraints:
    """Hard limits for a module over all target shapes; None means unconstrained."""

    latency_ms: float | None = None
    flops: float | None = None
    params: float | None = None

    def limits(self) -> dict[str, float]:
        return {name: value for name, value in vars(self).items() if value is not None}


CONSTRAINT_METRICS = tuple(field.name for field in dataclasses.fields(Constraints))

# --- proxy: what candidates train on --------------------------------------------------------------------------

COLOURS = ("odd", "random", "grey")
PROXY_DATASETS = ("digits", "imagefolder", "yolo")
# What a proxy task asks of the host: a class per image, or boxes and classes of every object in it.
PROXY_TASKS = ("classification", "detection")
# The packages the detection task needs beyond torch (box ops, mAP), and how to install them.
DETECTION_PACKAGES = ("torchvision", "torchmetrics", "faster_coco_eval")
DETECTION_EXTRA = "pip install 'mixsearch[detection]'"


# A whole number numpy takes as a seed.
SEED = Rule(
    lambda v: is_whole(v, 0) and v <= SEED_MAX, f"a whole number from 0 to {SEED_MAX}"
)
FRACTION = Rule(lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1)")


# The digits every embedded proxy draws from: scikit-learn's bundled 8 x 8 set (`load_digits`), all upscaled.
SOURCE_DIGITS = 1797


def check_proxy_fits(
    config: ProxyConfig | DetectionConfig, digit_size: int, pieces: tuple[str, ...]
) -> None:
    """MixsearchError when the images of `config`, or its digits upscaled to `digit_size`, are more than this
    machine can hold, or when an image holds more `pieces` (fields of `config`, summed) than pixels.
    """
    count = sum(config.sizes().values())
    side = config.canvas
    problem = memory_problem(
        f"proxy images ({count:,} of 3 x {side} x {side})", count * 3 * side**2
    ) or memory_problem(
        f"proxy digits ({SOURCE_DIGITS:,} upscaled to {digit_size} x {digit_size})",
        SOURCE_DIGITS * digit_size**2,
    )
    if problem:
        raise MixsearchError(problem)
    total = sum(getattr(config, name) for name in pieces)
    if total > side**2:
        raise MixsearchError(
            f"proxy {' + '.join(pieces)} ({total:,}) is more than the canvas's {side**2:,} pixels"
        )


@dataclass(frozen=True)
class ProxyConfig:
    """How the embedded cluttered-digits task is generated (`proxy.classification_data`). Every field is part of
    the cache key.

    canvas: side of the square image; digit_size: side the 8 x 8 digit is upscaled to; clutter: fragments of
    other digits per image, fragment_size square; decoys: whole digits of other classes per image; noise: std of
    the Gaussian pixel noise (intensities in [0, 1]); colour: "odd" (distractors share a hue, the digit has
    another), "random" (a hue per digit and fragment) or "grey"; background: the most a channel of the random
    flat background can be; *_size: images per split; seed: the generator's seed.
    """

    canvas: int = 32
    digit_size: int = 16
    clutter: int = 8
    fragment_size: int = 8
    decoys: int = 0
    noise: float = 0.1
    colour: str = "odd"
    background: float = 0.3
    train_size: int = 8000
    val_size: int = 2000
    test_size: int = 4000
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self, PROXY_FIELD_RULES, "proxy ")
        size_order = {
            "digit_size": between(
                self.fragment_size, self.canvas, "fragment_size", "canvas"
            )
        }
        check_fields(self, size_order, "proxy ")
        check_proxy_fits(self, self.digit_size, ("clutter", "decoys"))

    def sizes(self) -> dict[str, int]:
        return {"train": self.train_size, "val": self.val_size, "test": self.test_size}


# What each ProxyConfig field accepts (the DSL reports a bad one at its own line).
PROXY_FIELD_RULES: dict[str, Rule] = {
    "canvas": whole_number(1),
    "digit_size": whole_number(1),
    "clutter": whole_number(0),
    "fragment_size": whole_number(1),
    "decoys": whole_number(0),
    "noise": FRACTION,
    "colour": one_of(*COLOURS),
    "background": between(0, 1),
    "train_size": whole_number(1),
    "val_size": whole_number(1),
    "test_size": whole_number(1),
    "seed": SEED,
}


@dataclass(frozen=True)
class DetectionConfig:
    """How the embedded detection task is generated (`proxy: {task: detection}`). Every field is part of the cache
    key.

    canvas: side of the square image; min_digit, max_digit: the range of sides an object's 8 x 8 digit is
    upscaled to; max_objects: the most whole digits per image (at least one); clutter: fragments of digits per
    image, fragment_size square; noise, colour, background: as in `ProxyConfig` (with "odd", all objects share a
    hue, the fragments another); *_size: images per split; seed: the generator's seed.
    """

    canvas: int = 96
    min_digit: int = 16
    max_digit: int = 32
    max_objects: int = 4
    clutter: int = 16
    fragment_size: int = 12
    noise: float = 0.1
    colour: str = "odd"
    background: float = 0.3
    train_size: int = 4000
    val_size: int = 1000
    test_size: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self, DETECTION_FIELD_RULES, "proxy ")
        size_order = {
            "min_digit": between(
                self.fragment_size, self.max_digit, "fragment_size", "max_digit"
            ),
            "max_digit": between(self.min_digit, self.canvas, "min_digit", "canvas"),
        }
        check_fields(self, size_order, "proxy ")
        check_proxy_fits(self, self.max_digit, ("clutter", "max_objects"))

    def sizes(self) -> dict[str, int]:
        return {"train": self.train_size, "val": self.val_size, "test": self.test_size}


# What each DetectionConfig field accepts; the fields it shares with ProxyConfig accept the same.
DETECTION_FIELD_RULES: dict[str, Rule] = {
    "canvas": whole_number(1),
    "min_digit": whole_number(1),
    "max_digit": whole_number(1),
    "max_objects": whole_number(1),
    **{
        name: PROXY_FIELD_RULES[name]
        for name in (
            "clutter",
            "fragment_size",
            "noise",
            "colour",
            "background",
            "train_size",
            "val_size",
            "test_size",
            "seed",
        )
    },
}


@dataclass(frozen=True)
class ProxySpec:
    """The space's `proxy:` section: the embedded digits (with optional overrides), an image folder or a YOLO
    dataset.

    proxy: {dataset: digits, canvas: 40, clutter: 8}
    proxy: {task: detection, canvas: 128, max_objects: 6}
    proxy: {dataset: imagefolder, path: data/my_classes, image_size: 64}
    proxy: {dataset: yolo, path: data/my_boxes, image_size: 96}     # a folder with data.yaml; task detection
    """

    dataset: str = "digits"
    path: str | None = None
    image_size: int = 64
    digits: ProxyConfig = ProxyConfig()
    task: str = "classification"
    detection: DetectionConfig = DetectionConfig()


# --- search: how `mixsearch run` searches ---------------------------------------------------------------------

STRATEGIES = ("hybrid", "optuna", "darts", "random")
SAMPLERS = ("tpe", "nsga2")
# Every objective a search can optimise, with its Optuna direction; accuracy and latency always come first.
OBJECTIVES = {
    "accuracy": "maximize",
    "latency_ms": "minimize",
    "flops": "minimize",
    "params": "minimize",
}
ALWAYS_OBJECTIVES = ("accuracy", "latency_ms")


def ordered_objectives(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Accuracy and latency always, then the asked extras, in OBJECTIVES order; ValueError for an unknown name."""
    unknown = [name for name in names if name not in OBJECTIVES]
    if unknown:
        raise ValueError(
            unknown_name("search objective", unknown[0], OBJECTIVES, "accepted")
        )
    return tuple(o for o in OBJECTIVES if o in ALWAYS_OBJECTIVES or o in names)


@dataclass(frozen=True)
class Budget:
    """Epochs and trial counts of every stage of a search.

    trials: finished trials of the Optuna or random stage; rung_epoch: the epoch of the final schedule at which
    a trial is scored (it trains the final recipe with the first final seed up to it); darts_*: the DARTS stage;
    final_epochs: the final recipe's epochs, which the `finalists` promoted at the rung continue to and the
    baselines and ablations train, each with `final_seeds` seeds (the same seeds for all, so their differences
    pair up); branch_ablations: besides the fusion replaced by a sum, one
    ablation per removable branch; train_images / eval_images: caps on the proxy splits (None: all of them);
    final_workers: processes training the finals on the CPU (None: one per core; each trains on one thread).
    """

    name: str
    trials: int
    rung_epoch: int
    darts_epochs: int
    darts_warmup_epochs: int
    final_epochs: int
    finalists: int
    final_seeds: int = 1
    branch_ablations: bool = True
    train_images: int | None = None
    eval_images: int | None = None
    darts_steps_per_epoch: int | None = None
    final_workers: int | None = None


# `quick` is the smallest budget whose final numbers rank modules the way longer trainings do: shorter finals
# measure how fast a module starts to learn (benchmarks/proxy_fidelity.py), and one seed cannot tell two modules
# apart, so it trains with 2. Its rung, epoch 5 of 8, is where the ranking of the final means levels off, and its
# best module is then among the top 3 (benchmarks/results/rung_fidelity.md); the larger budgets keep the same
# share of their schedules. The proxy needs a few hundred steps on thousands of images before anything is
# learned, so no budget but `tiny` (for tests: seconds, in-process) cuts the splits.
BUDGETS = {
    "tiny": Budget(
        "tiny",
        trials=3,
        rung_epoch=1,
        darts_epochs=2,
        darts_warmup_epochs=1,
        final_epochs=1,
        finalists=1,
        train_images=128,
        eval_images=128,
        darts_steps_per_epoch=2,
        final_workers=1,
    ),
    "quick": Budget(
        "quick",
        trials=12,
        rung_epoch=5,
        darts_epochs=5,
        darts_warmup_epochs=2,
        final_epochs=8,
        finalists=3,
        final_seeds=2,
        branch_ablations=False,
    ),
    "standard": Budget(
        "standard",
        trials=40,
        rung_epoch=8,
        darts_epochs=20,
        darts_warmup_epochs=5,
        final_epochs=12,
        finalists=3,
        final_seeds=3,
    ),
    "full": Budget(
        "full",
        trials=120,
        rung_epoch=19,
        darts_epochs=40,
        darts_warmup_epochs=10,
        final_epochs=30,
        finalists=5,
        final_seeds=5,
    ),
}


# How long the quick budget takes, for the command-line help; the measured minutes are kept with the benchmark's
# results, not here, where they would drift from them.
QUICK_TIME = "minutes on a CPU; measured in benchmarks/results/quick_budget.md"


def get_budget(name: str, trials: int | None = None) -> Budget:
    """The named budget, with its trial count replaced by `trials` when given."""
    if name not in BUDGETS:
        raise MixsearchError(
            f"unknown budget {name!r}; choose one of {', '.join(BUDGETS)}"
        )
    budget = BUDGETS[name]
    return budget if trials is None else replace(budget, trials=trials)


def darts_budget(
    darts_epochs: int,
    warmup_epochs: int,
    final_epochs: int,
    final_seeds: int = 2,
    images: int | None = None,
) -> Budget:
    """The budget of a DARTS-only search (`mixsearch darts`): its epochs, then one derived module retrained."""
    return Budget(
        "darts",
        trials=1,
        rung_epoch=1,
        darts_epochs=darts_epochs,
        darts_warmup_epochs=min(warmup_epochs, darts_epochs - 1),
        final_epochs=final_epochs,
        finalists=1,
        final_seeds=final_seeds,
        train_images=images,
        eval_images=images,
    )


@dataclass(frozen=True)
class SearchSpec:
    """The space's `search:` section: how `mixsearch run` searches it (command-line options override it).

    search:
      strategy: hybrid      # hybrid | optuna | darts | random
      sampler: tpe          # tpe | nsga2 (optuna and hybrid)
      budget: quick         # tiny | quick | standard | full
      trials: 24            # overrides the budget's trial count
      objectives: [accuracy, latency_ms, params]   # accuracy and latency_ms always; flops, params optional
      keep: 2               # hybrid: options per choice kept after DARTS
      seed: 0
    """

    strategy: str = "hybrid"
    sampler: str = "tpe"
    budget: str = "quick"
    trials: int | None = None
    objectives: tuple[str, ...] = ALWAYS_OBJECTIVES
    keep: int = 2
    seed: int = 0
