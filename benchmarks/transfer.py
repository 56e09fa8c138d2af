"""Does the proxy's ranking of attention modules carry over to YOLOv8?

A fixed set of modules (the hand-designed baselines none, SE, ECA, CBAM and coordinate attention, and `--sampled`
mixed modules drawn from a space) is scored three ways, each with the same seeds: (a) on the classification proxy
and (b) on the detection proxy, both with the final recipe of `mixsearch run`, and (c) by real Ultralytics
YOLOv8n, built from the emitted model YAML and trained by the emitted train script on the detection proxy's own
images exported in the YOLO format (`mixsearch proxy export-yolo`), scored by mAP50-95 on the test split.

Prints each module's three scores (mean ± std over seeds), the Spearman correlation of (a) and of (b) with (c)
over the module means, and the seed noise of (c): two modules whose YOLOv8 means differ by no more than twice the
larger of their seed stds are a tie.

    python benchmarks/transfer.py                                      # CPU setting: 3 seeds
    python benchmarks/transfer.py --device cuda --imgsz 128 --yolo-epochs 30 --seeds 5
    python benchmarks/transfer.py --quick                              # a smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import version
from pathlib import Path

import torch
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from common import add_machine_arguments, settings  # noqa: E402
from helpers import offline_env  # noqa: E402
from mixsearch.arch import Arch, function_key  # noqa: E402
from mixsearch.codegen.emit import emit  # noqa: E402
from mixsearch.hardware.device import device_name  # noqa: E402
from mixsearch.hardware.latency import fixed_threads  # noqa: E402
from mixsearch.model import DiscreteModel  # noqa: E402
from mixsearch.proxy import (  # noqa: E402
    TrainConfig,
    load_proxy,
    seed_everything,
    train,
)
from mixsearch.proxy.detection_data import load_detection  # noqa: E402
from mixsearch.proxy.splits import ProxyData  # noqa: E402
from mixsearch.proxy.tasks import task_of  # noqa: E402
from mixsearch.proxy.yolo_format import export_yolo  # noqa: E402
from mixsearch.search.engine.baselines import baseline_archs  # noqa: E402
from mixsearch.space.graph import compile_space  # noqa: E402
from mixsearch.space.schema import load_space  # noqa: E402
from mixsearch.space.sections import BUDGETS, DetectionConfig, ProxyConfig  # noqa: E402
from mixsearch.yolo import UltralyticsExport  # noqa: E402

SCORES = ("classification", "detection", "yolov8n")
QUICK_CLASSIFICATION = ProxyConfig(train_size=128, val_size=64, test_size=64)
QUICK_DETECTION = DetectionConfig(
    canvas=64,
    min_digit=16,
    max_digit=24,
    max_objects=2,
    clutter=2,
    fragment_size=8,
    train_size=32,
    val_size=16,
    test_size=16,
)
# Trains a model the way `python train_<name>.py ARGS` does, then scores its last weights on the test split;
# prints the test metrics as JSON on the last line.
TRAIN_AND_TEST = """
import json, runpy, sys
from pathlib import Path

script, weights, data, imgsz, batch, device, *train_args = sys.argv[1:]
sys.path.insert(0, str(Path(script).parent))
sys.argv = [script, data, *train_args]
runpy.run_path(script, run_name="__main__")
register = __import__(Path(script).stem).register
from ultralytics import YOLO

register()
metrics = YOLO(weights).val(
    data=data, split="test", imgsz=int(imgsz), batch=int(batch), device=device, workers=0, plots=False,
    project=str(Path(weights).parents[2]), name="test", exist_ok=True, verbose=False,
)
print(json.dumps({"map": metrics.box.map, "map50": metrics.box.map50}))
"""


@dataclass
class Module:
    """One module and its scores per seed, by score name."""

    arch: Arch
    scores: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def record(self, score: str, value: float, seconds: float) -> None:
        self.scores.setdefault(score, []).append(value)
        self.seconds.setdefault(score, []).append(seconds)

    def mean(self, score: str) -> float:
        return statistics.mean(self.scores[score])

    def std(self, score: str) -> float:
        values = self.scores[score]
        return statistics.stdev(values) if len(values) > 1 else 0.0


def modules(
    baselines: Sequence[str], space: str, sampled: int, seed: int
) -> list[Module]:
    """The named baselines, then `sampled` architectures drawn from `space` that compute no module before them."""
    archs = [baseline_archs()[name] for name in baselines]
    graph = compile_space(load_space(space))
    rng, seen = random.Random(seed), {function_key(arch) for arch in archs}
    wanted = len(archs) + sampled
    for _ in range(1000 * sampled):
        if len(archs) == wanted:
            break
        arch = graph.sample(rng)
        if function_key(arch) not in seen:
            seen.add(function_key(arch))
            number = len(archs) - wanted + sampled + 1
            archs.append(
                dataclasses.replace(
                    arch, name=f"sampled{number}", class_name=f"Sampled{number}"
                )
            )
    if len(archs) < wanted:
        raise SystemExit(
            f"{space} holds fewer than {sampled} modules beyond the baselines"
        )
    return [Module(arch) for arch in archs]


def proxy_score(
    arch: Arch, data: ProxyData, config: TrainConfig
) -> tuple[float, float]:
    """`arch` in the task's host trained with `config`: test score and seconds."""
    seed_everything(config.seed)
    model = task_of(data).host(partial(DiscreteModel, arch), data)
    result = train(model, data, config, show_progress=False)
    return result.test_acc, result.seconds


def yolo_score(
    arch: Arch,
    data_yaml: Path,
    work: Path,
    seed: int,
    args: argparse.Namespace,
    env: dict[str, str],
) -> tuple[float, float]:
    """YOLOv8n with `arch` emitted, trained by its train script: test mAP50-95 and seconds (log in `work`)."""
    folder = work / arch.name
    if not folder.exists():
        emit(arch, folder, UltralyticsExport(scales=("n",)))
    project = folder / "runs"
    weights = project / f"seed{seed}" / "weights" / "last.pt"
    train_args = [
        f"epochs={args.yolo_epochs}",
        f"imgsz={args.imgsz}",
        f"batch={args.batch}",
        f"seed={seed}",
        "deterministic=True",
        f"device={args.device}",
        "workers=0",
        "plots=False",
        "val=False",
        f"project={project}",
        f"name=seed{seed}",
        "exist_ok=True",
        *args.yolo_arg,
    ]
    command = [
        sys.executable,
        "-c",
        TRAIN_AND_TEST,
        str(folder / f"train_{arch.name}.py"),
        str(weights),
        str(data_yaml),
        str(args.imgsz),
        str(args.batch),
        args.device,
        *train_args,
    ]
    start = time.perf_counter()
    run = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    log = folder / f"seed{seed}.log"
    log.write_text(run.stdout + run.stderr)
    if run.returncode != 0:
        raise RuntimeError(
            f"YOLOv8 training of {arch.name} (seed {seed}) failed; log: {log}\n{run.stderr[-3000:]}"
        )
    metrics = json.loads(run.stdout.strip().splitlines()[-1])
    return metrics["map"], time.perf_counter() - start


def score_all(
    found: list[Module], args: argparse.Namespace, work: Path
) -> tuple[ProxyConfig, DetectionConfig]:
    """Every module, every seed, all three scores; one line per run on stderr as it finishes."""
    classification, detection = (
        (QUICK_CLASSIFICATION, QUICK_DETECTION)
        if args.quick
        else (ProxyConfig(), DetectionConfig())
    )
    detection = dataclasses.replace(detection, **args.detection)
    datasets = {
        "classification": load_proxy(classification),
        "detection": load_detection(detection),
    }
    data_yaml = export_yolo(datasets["detection"], work / "yolo-data")
    env = {
        **offline_env(work / "ultralytics-config"),
        "OMP_NUM_THREADS": str(args.threads),
    }
    scorers: dict[str, Callable[[Arch, int], tuple[float, float]]] = {
        name: lambda arch, seed, data=data: proxy_score(
            arch,
            data,
            TrainConfig(epochs=args.proxy_epochs, seed=seed, device=args.device),
        )
        for name, data in datasets.items()
    }
    scorers["yolov8n"] = lambda arch, seed: yolo_score(
        arch, data_yaml, work, seed, args, env
    )
    with fixed_threads(args.threads):
        for module in found:
            for score in SCORES:
                for seed in range(args.seeds):
                    value, seconds = scorers[score](module.arch, seed)
                    module.record(score, value, seconds)
                    print(
                        f"{module.arch.name} {score} seed {seed}: {value:.4f} ({seconds:.0f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
    return classification, detection


def ties(found: list[Module]) -> list[tuple[str, str]]:
    """Pairs of modules whose YOLOv8 means differ by no more than twice the larger of their seed stds."""
    pairs = []
    for i, a in enumerate(found):
        for b in found[i + 1 :]:
            noise = 2 * max(a.std("yolov8n"), b.std("yolov8n"))
            if abs(a.mean("yolov8n") - b.mean("yolov8n")) <= noise:
                pairs.append((a.arch.name, b.arch.name))
    return pairs


def correlation(found: list[Module], score: str) -> str:
    """Spearman's rho of `score`'s module means with YOLOv8's; undefined when either is constant."""
    ours, yolo = [m.mean(score) for m in found], [m.mean("yolov8n") for m in found]
    if len(set(ours)) < 2 or len(set(yolo)) < 2:
        return "undefined (constant scores)"
    return f"{spearmanr(ours, yolo).statistic:+.2f}"


def describe(arch: Arch) -> str:
    return ", ".join(f"{node.name}={node.op}" for node in arch.nodes)


def markdown(found: list[Module], header: list[str]) -> str:
    out = [line + "  " for line in header] + [""]
    out.append(
        "| module | classification proxy acc % | detection proxy mAP50-95 % | YOLOv8n mAP50-95 % "
        "| s / run (cls, det, yolo) |"
    )
    out.append("|---|---:|---:|---:|---:|")
    for module in sorted(found, key=lambda m: -m.mean("yolov8n")):
        cells = [
            f"{100 * module.mean(s):.2f} ± {100 * module.std(s):.2f}" for s in SCORES
        ]
        seconds = "/".join(f"{statistics.mean(module.seconds[s]):.0f}" for s in SCORES)
        out.append(f"| {module.arch.name} | {' | '.join(cells)} | {seconds} |")
    noise = max(m.std("yolov8n") for m in found)
    tied = ties(found)
    out += [
        "",
        *(
            f"{m.arch.name}: {describe(m.arch)}"
            for m in found
            if m.arch.source != "baseline"
        ),
        "",
        f"Spearman with YOLOv8n mAP50-95 (over {len(found)} module means): "
        f"classification proxy {correlation(found, 'classification')}, "
        f"detection proxy {correlation(found, 'detection')}",
        f"YOLOv8n seed noise: largest std {100 * noise:.2f} points; "
        f"{len(tied)} of {len(found) * (len(found) - 1) // 2} module pairs are ties "
        f"(no farther apart than 2 x the larger std)" + (": " if tied else ""),
    ]
    if tied:
        out.append(", ".join(f"{a}~{b}" for a, b in tied))
    return "\n".join(out)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--baselines",
        default=",".join(baseline_archs()),
        help="comma-separated subset of the hand-designed baselines",
    )
    parser.add_argument("--space", default="search_spaces/default.yaml")
    parser.add_argument(
        "--sampled", type=int, default=3, help="mixed modules drawn from --space"
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="seeds 0 .. N-1 for every score"
    )
    parser.add_argument(
        "--proxy-epochs",
        type=int,
        default=BUDGETS["quick"].final_epochs,
        help="epochs of both proxies (default: the quick budget's final retraining)",
    )
    parser.add_argument("--yolo-epochs", type=int, default=10)
    parser.add_argument("--imgsz", type=int, default=96, help="YOLOv8 image size")
    parser.add_argument("--batch", type=int, default=32, help="YOLOv8 batch size")
    add_machine_arguments(parser)
    parser.add_argument(
        "--detection",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="DetectionConfig field of the detection set",
    )
    parser.add_argument(
        "--yolo-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra YOLO.train setting",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 epoch each")
    args = parser.parse_args(argv)
    args.baselines = args.baselines.split(",")
    try:
        args.detection = settings(DetectionConfig, args.detection)
    except ValueError as error:
        parser.error(str(error))
    unknown = set(args.baselines) - set(baseline_archs())
    if unknown:
        parser.error(
            f"unknown baseline {sorted(unknown)[0]!r}; known: {', '.join(baseline_archs())}"
        )
    if args.quick:
        args.proxy_epochs = args.yolo_epochs = 1
        args.imgsz, args.batch = 64, 8
    if min(args.seeds, args.proxy_epochs, args.yolo_epochs, args.threads) < 1:
        parser.error(
            "--seeds, --proxy-epochs, --yolo-epochs and --threads must be >= 1"
        )
    if args.seeds < 2 and not args.quick:
        parser.error("--seeds must be >= 2: the seed noise needs two runs")
    return args


def main(argv: Sequence[str] | None = None) -> list[Module]:
    """Run the experiment, print the table, return the modules with their scores."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    found = modules(args.baselines, args.space, args.sampled, seed=0)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        classification, detection = score_all(found, args, Path(scratch))
    header = [
        f"command: `{shlex.join(['python', 'benchmarks/transfer.py', *argv])}`",
        f"versions: Python {platform.python_version()}, torch {torch.__version__}, "
        f"ultralytics {version('ultralytics')}",
        f"device: {args.device} ({device_name(torch.device(args.device))}, {os.cpu_count()} cores), "
        f"{args.threads} thread(s); 1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
        f"classification proxy: {classification}",
        f"detection proxy: {detection}",
        f"proxies: {args.proxy_epochs} epochs (final recipe); YOLOv8n: {args.yolo_epochs} epochs, imgsz "
        f"{args.imgsz}, batch {args.batch}, last weights scored on the test split; seeds 0 .. {args.seeds - 1}",
    ]
    print(markdown(found, header))
    return found


if __name__ == "__main__":
    main()
