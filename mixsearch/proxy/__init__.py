"""The proxy task candidates are trained on: datasets, the host network, and the training loop."""

from mixsearch.proxy.data import (
    ProxyConfig,
    ProxyData,
    load_imagefolder,
    load_proxy,
    load_proxy_data,
)
from mixsearch.proxy.host import HostNet
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
    "DivergedError",
    "HostNet",
    "ProxyConfig",
    "ProxyData",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_imagefolder",
    "load_proxy",
    "load_proxy_data",
    "make_loader",
    "seed_everything",
    "train",
    "train_candidate",
]
