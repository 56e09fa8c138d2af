"""The proxy task candidates are trained on: datasets, the host network, and the training loop."""

from mixsearch.proxy.data import (
    ProxyConfig,
    ProxyData,
    load_imagefolder,
    load_proxy,
    load_proxy_data,
)
from mixsearch.proxy.host import BASELINES, HostNet, baseline_factories
from mixsearch.proxy.train import (
    DivergedError,
    TrainConfig,
    TrainResult,
    evaluate,
    make_loader,
    seed_everything,
    train,
    train_candidate,
)

__all__ = [
    "BASELINES",
    "DivergedError",
    "HostNet",
    "ProxyConfig",
    "ProxyData",
    "TrainConfig",
    "TrainResult",
    "baseline_factories",
    "evaluate",
    "load_imagefolder",
    "load_proxy",
    "load_proxy_data",
    "make_loader",
    "seed_everything",
    "train",
    "train_candidate",
]
