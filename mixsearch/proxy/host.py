"""The host network that carries a candidate attention module through proxy training.

It mimics where the module sits in a YOLO backbone: three stages of growing width, each halving the resolution,
with the searched module after each stage (as YOLOv8's P3, P4 and P5 outputs feed an attention block). The
module is the only thing that changes between candidates; everything else is fixed (the same initial weights for
the same seed: `attention_modules`), so accuracy differences are the module's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

AttentionFactory = Callable[[int], nn.Module]


def attention_modules(
    attention: AttentionFactory, widths: Sequence[int]
) -> nn.ModuleList:
    """`attention(width)` for each width, built from a generator of their own: each takes exactly one draw of
    torch's global generator, whatever it builds, so that the host's other weights (built before and after)
    start the same for every module of a seed."""
    modules = []
    for width in widths:
        seed = int(torch.randint(2**62, ()))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            modules.append(attention(width))
    return nn.ModuleList(modules)


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3 x 3 conv (no bias) -> BatchNorm -> ReLU: the host's only building block."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class HostNet(nn.Module):
    """Stem (stride 2), then per width: conv stride 2 (not the first) + conv, then `attention(width)`; pool + linear.

    On the default 32 x 32 canvas the three stages see 16 x 16, 8 x 8 and 4 x 4 maps (strides 2, 4, 8).
    """

    def __init__(
        self,
        attention: AttentionFactory,
        widths: Sequence[int] = (32, 64, 128),
        num_classes: int = 10,
        in_channels: int = 3,
    ):
        super().__init__()
        self.stem = conv_bn_relu(in_channels, widths[0], stride=2)
        stages = []
        for i, width in enumerate(widths):
            previous = widths[max(i - 1, 0)]
            stages.append(
                nn.Sequential(
                    conv_bn_relu(previous, width, stride=1 if i == 0 else 2),
                    conv_bn_relu(width, width),
                )
            )
        self.stages = nn.ModuleList(stages)
        self.attention = attention_modules(attention, widths)
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage, attention in zip(self.stages, self.attention):
            x = attention(stage(x))
        return self.head(x.mean((2, 3)))
