"""The proxy task candidates are trained on: datasets, the host network, and the training loop."""

from mixsearch.proxy.classification_data import load_proxy
from mixsearch.proxy.data import load_proxy_data
from mixsearch.proxy.host import HostNet
from mixsearch.proxy.image_folder import load_imagefolder
from mixsearch.proxy.splits import ProxyData
from mixsearch.proxy.train import (
    DivergedError,
    TrainConfig,
    Training,
    TrainResult,
    evaluate,
    make_loader,
    seed_everything,
    train,
)
from mixsearch.space.sections import ProxyConfig

__all__ = [
    "DivergedError",
    "HostNet",
    "ProxyConfig",
    "ProxyData",
    "TrainConfig",
    "TrainResult",
    "Training",
    "evaluate",
    "load_imagefolder",
    "load_proxy",
    "load_proxy_data",
    "make_loader",
    "seed_everything",
    "train",
]
