"""Does DARTS find a module that beats the hand-designed baselines on the proxy task, at what cost?

For each seed: DARTS searches the space on its proxy task (hardware-aware, under its constraints), the derived
module is retrained from scratch, and every baseline of the op library (none, SE, ECA, CBAM, coordinate attention)
is trained with the same budget in the same host. Latency is measured end to end at the space's target shapes
with the shared protocol (summed over shapes), parameters counted at those shapes. Prints a Markdown table.

    python benchmarks/darts_quality.py                                   # default space, 3 seeds
    python benchmarks/darts_quality.py --quick                           # a smoke run in seconds
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
from typing import Callable

import torch
from torch import nn

from mixsearch.hardware.counts import count_params
from mixsearch.hardware.latency import measure_latency
from mixsearch.space.sections import Target
from mixsearch.model import DiscreteModel
from mixsearch.proxy import (
    HostNet,
    ProxyData,
    TrainConfig,
    baseline_factories,
    train_candidate,
)
from mixsearch.search.darts import DartsConfig
from mixsearch.search.one_shot import load_proxy_data, run_darts
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import load_space
from mixsearch.hardware.device import example_input, torch_device

Factory = Callable[[int], nn.Module]


def module_cost(factory: Factory, target: Target, repeats: int) -> tuple[float, int]:
    """(latency ms summed over the target shapes, parameters summed over them) of one attention module."""
    latency, params = 0.0, 0
    for shape in target.shapes:
        module = factory(shape[1]).eval().to(torch_device(target))
        x = example_input(target, shape)
        latency += measure_latency(
            lambda: module(x), torch_device(target), repeats=repeats
        ).ms
        params += count_params(module)
    return latency, params


def discrete_factory(arch) -> Factory:
    """The derived architecture as an attention factory for the host network."""
    return lambda channels: DiscreteModel(arch, channels)


def train_accuracy(factory: Factory, data: ProxyData, config: TrainConfig) -> float:
    def build() -> HostNet:
        return HostNet(
            factory, num_classes=data.num_classes, in_channels=data.in_channels
        )

    return train_candidate(build, data, config, show_progress=False).test_acc


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", nargs="?", default="search_spaces/default.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--search-epochs", type=int, default=DartsConfig.epochs)
    parser.add_argument("--train-epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument(
        "--repeats", type=int, default=30, help="timed calls per module and shape"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, 2 search and 1 training epochs"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.search_epochs, args.train_epochs, args.repeats = 1, 2, 1, 3
    graph = compile_space(load_space(args.space))
    target = graph.space.target
    device = str(torch_device(target))
    rows: dict[str, dict] = {
        name: {"acc": [], "latency": 0.0, "params": 0} for name in baseline_factories()
    }
    rows["darts"] = {"acc": [], "latency": [], "params": [], "archs": []}
    start_load = os.getloadavg()[0]
    for seed in range(args.seeds):
        train = TrainConfig(epochs=args.train_epochs, seed=seed, device=device)
        search = DartsConfig(
            epochs=args.search_epochs,
            warmup_epochs=min(5, args.search_epochs - 1),
            seed=seed,
            device=device,
        )
        with tempfile.TemporaryDirectory() as run_dir:
            outcome = run_darts(
                graph, target, search, train, run_dir, show_progress=False
            )
        latency, params = module_cost(
            discrete_factory(outcome.arch), target, args.repeats
        )
        darts = rows["darts"]
        darts["acc"].append(outcome.retrained.test_acc)
        darts["latency"].append(latency)
        darts["params"].append(params)
        darts["archs"].append(
            ", ".join(f"{node.name}={node.op}" for node in outcome.arch.nodes)
        )
        data = load_proxy_data(graph.space.proxy, seed)
        for name, baseline in baseline_factories().items():
            rows[name]["acc"].append(train_accuracy(baseline, data, train))
    for name, baseline in baseline_factories().items():
        rows[name]["latency"], rows[name]["params"] = module_cost(
            baseline, target, args.repeats
        )
    print_table(rows, args, target, start_load)
    return [{"name": name, **row} for name, row in rows.items()]


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * std:.2f}"


def print_table(
    rows: dict[str, dict], args: argparse.Namespace, target: Target, start_load: float
) -> None:
    print(f"command: `python {shlex.join(sys.argv)}`  ")
    print(
        f"torch {torch.__version__}, device {torch_device(target)}, {torch.get_num_threads()} threads; "
        f"1-min load average {start_load:.2f} at start, {os.getloadavg()[0]:.2f} at end  "
    )
    print(
        f"{args.seeds} seeds; search {args.search_epochs} epochs; every module trained {args.train_epochs} epochs  \n"
    )
    print(
        "| module | test acc % (mean ± std) | latency ms (sum over target shapes) | params |"
    )
    print("|---|---:|---:|---:|")
    for name, row in rows.items():
        latency = (
            statistics.mean(row["latency"])
            if isinstance(row["latency"], list)
            else row["latency"]
        )
        params = (
            statistics.mean(row["params"])
            if isinstance(row["params"], list)
            else row["params"]
        )
        print(f"| {name} | {_mean_std(row['acc'])} | {latency:.3f} | {params:,.0f} |")
    for i, arch in enumerate(rows["darts"]["archs"]):
        print(f"\nseed {i}: darts derived {arch}")


if __name__ == "__main__":
    main()
