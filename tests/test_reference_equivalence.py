"""Ops with a published reference implementation compute exactly the reference's function.

Each row of REFERENCES names one of our ops with its params and builds the reference for `c` channels with the
same hyper-parameters. The reference's weights (BatchNorm statistics randomised) are copied into our op entry by
entry, and both must give the same output in eval mode. Where a reference's default hidden width is rounded
differently from ours, the row passes our width explicitly and says so.
"""

import pytest
import torch
from torch import nn

from mixsearch.ops import OPS
from mixsearch.ops.helpers import reduced_channels


def timm(module: str):
    """A `timm.layers` module, or skip the row when timm is not installed."""
    return pytest.importorskip(f"timm.layers.{module}")


def ultralytics(module: str):
    """An `ultralytics.nn.modules` module, or skip the row when ultralytics is not installed."""
    return pytest.importorskip(f"ultralytics.nn.modules.{module}")


def perturbed(module: nn.Module) -> nn.Module:
    """The module with every parameter redrawn, for references whose init zeroes a whole path."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(std=0.3)
    return module


def timm_gather_excite(c: int, extent: int = 0, learned: bool = False) -> nn.Module:
    """timm's GatherExcite with width max(8, C // 16) (timm: round(C / 16)), optionally with its learned gather.

    timm 1.0.31's constructor passes `*dd` positionally and fails whenever it builds the MLP or the learned gather,
    so the reference is built without both and given the modules that constructor means to build; forward is timm's.
    """
    reference = timm("gather_excite").GatherExcite(c, extent=extent, use_mlp=False)
    del reference.mlp
    if learned:
        reference.gather = nn.Sequential()
        steps = extent.bit_length() - 1
        for i in range(1, steps + 1):
            conv = timm("create_conv2d").create_conv2d(
                c, c, kernel_size=3, stride=2, depthwise=True
            )
            reference.gather.add_module(f"conv{i}", conv)
            reference.gather.add_module(f"norm{i}", nn.BatchNorm2d(c))
            if i < steps:
                reference.gather.add_module(f"act{i}", nn.ReLU(inplace=True))
    reference.mlp = timm("mlp").ConvMlp(c, reduced_channels(c, 16))
    return reference


REFERENCES = [
    # (our op, its params, reference built for c channels)
    # timm rounds C/16 to a multiple of 8 by default (C=320: 24, ours 20).
    (
        "se",
        {},
        lambda c: timm("squeeze_excite").SEModule(
            c, rd_channels=reduced_channels(c, 16)
        ),
    ),
    (
        "se",
        {"reduction": 4},
        lambda c: timm("squeeze_excite").SEModule(
            c, rd_channels=reduced_channels(c, 4)
        ),
    ),
    ("ese", {}, lambda c: timm("squeeze_excite").EffectiveSEModule(c)),
    ("eca", {}, lambda c: timm("eca").EcaModule(c)),
    # timm rounds C/16 to the nearest integer by default (C=24: 2); CBAM's code floors it (1).
    (
        "cbam_channel",
        {"variant": "paper"},
        lambda c: timm("cbam").ChannelAttn(c, rd_channels=max(1, c // 16)),
    ),
    (
        "cbam_channel",
        {"variant": "light"},
        lambda c: timm("cbam").LightChannelAttn(c, rd_channels=max(1, c // 16)),
    ),
    (
        "cbam_channel",
        {"variant": "ultralytics"},
        lambda c: ultralytics("conv").ChannelAttention(c),
    ),
    (
        "cbam_spatial",
        {"variant": "paper", "kernel": 7},
        lambda c: ultralytics("conv").SpatialAttention(7),
    ),
    (
        "cbam_spatial",
        {"variant": "paper", "kernel": 3},
        lambda c: ultralytics("conv").SpatialAttention(3),
    ),
    (
        "cbam_spatial",
        {"variant": "timm", "kernel": 7},
        lambda c: timm("cbam").SpatialAttn(7),
    ),
    (
        "cbam_spatial",
        {"variant": "timm", "kernel": 5},
        lambda c: timm("cbam").SpatialAttn(5),
    ),
    # The authors' CoordAtt is timm's CoordAttn with conv biases and width max(8, C // 32).
    (
        "coord",
        {"variant": "paper"},
        lambda c: timm("coord_attn").CoordAttn(
            c, rd_channels=max(8, c // 32), bias=True
        ),
    ),
    ("coord", {"variant": "timm"}, lambda c: timm("coord_attn").CoordAttn(c)),
    (
        "coord",
        {"variant": "timm", "reduction": 8},
        lambda c: timm("coord_attn").CoordAttn(c, rd_ratio=1 / 8),
    ),
    ("nonlocal", {"variant": "timm"}, lambda c: timm("non_local_attn").NonLocalAttn(c)),
    (
        "nonlocal",
        {"variant": "timm", "reduction": 4},
        lambda c: timm("non_local_attn").NonLocalAttn(c, rd_ratio=1 / 4),
    ),
    # timm rounds C/8 to the nearest integer (C=24: 3); ours floors it, at least 8. timm zero-inits the add path.
    (
        "global_context",
        {"variant": "add"},
        lambda c: perturbed(
            timm("global_context").GlobalContext(
                c, fuse_add=True, fuse_scale=False, rd_channels=reduced_channels(c, 8)
            )
        ),
    ),
    (
        "global_context",
        {"variant": "scale"},
        lambda c: timm("global_context").GlobalContext(
            c, rd_channels=reduced_channels(c, 8)
        ),
    ),
    ("gather_excite", {"variant": "pool"}, lambda c: timm_gather_excite(c)),
    (
        "gather_excite",
        {"variant": "pool", "extent": 2},
        lambda c: timm_gather_excite(c, 2),
    ),
    (
        "gather_excite",
        {"variant": "pool", "extent": 8},
        lambda c: timm_gather_excite(c, 8),
    ),
    (
        "gather_excite",
        {"variant": "pool", "use_mlp": False},
        lambda c: timm("gather_excite").GatherExcite(c, use_mlp=False),
    ),
    (
        "gather_excite",
        {"variant": "conv", "extent": 2},
        lambda c: timm_gather_excite(c, 2, learned=True),
    ),
    (
        "gather_excite",
        {"variant": "conv", "extent": 8},
        lambda c: timm_gather_excite(c, 8, learned=True),
    ),
]
CHANNELS = [64, 24, 320]


def row_id(row):
    name, params, _ = row
    return "-".join([name, *(f"{key}={value}" for key, value in params.items())])


def randomise_norm_stats(module: nn.Module) -> None:
    """Give every BatchNorm non-trivial running statistics and affine parameters, so eval mode exercises them."""
    with torch.no_grad():
        for norm in module.modules():
            if isinstance(norm, nn.BatchNorm2d):
                norm.running_mean.normal_()
                norm.running_var.uniform_(0.5, 2.0)
                norm.weight.normal_()
                norm.bias.normal_()


def load_by_order(ours: nn.Module, reference: nn.Module) -> None:
    """Copy the reference's state into ours entry by entry (names differ between codebases), checking shapes."""
    ours_state, reference_state = ours.state_dict(), reference.state_dict()
    assert len(ours_state) == len(
        reference_state
    ), f"{list(ours_state)} != {list(reference_state)}"
    for (name, ours_value), (reference_name, reference_value) in zip(
        ours_state.items(), reference_state.items()
    ):
        assert (
            ours_value.shape == reference_value.shape
        ), f"{name} {tuple(ours_value.shape)} != {reference_name} {tuple(reference_value.shape)}"
    ours.load_state_dict(dict(zip(ours_state, reference_state.values())))


@pytest.mark.parametrize("row", REFERENCES, ids=[row_id(row) for row in REFERENCES])
@pytest.mark.parametrize("channels", CHANNELS)
def test_op_computes_the_same_function_as_its_reference(row, channels):
    name, params, build_reference = row
    reference = build_reference(channels)
    randomise_norm_stats(reference)
    ours = OPS.get(name).build(channels, params)
    load_by_order(ours, reference)
    x = torch.randn(2, channels, 7, 9)

    with torch.no_grad():
        expected = reference.eval()(x)
        actual = ours.eval()(x)

    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=0)
