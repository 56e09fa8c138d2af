"""Every op and fusion function of the library: shape contract, scripting, export, clear channel errors."""

import pytest
import torch

from mixsearch.ops import OPS

VARIANTS = [(info, variant) for info in OPS for variant in info.variants]
IDS = [f"{info.name}-{variant}" for info, variant in VARIANTS]


def build(info, variant, channels, num_inputs=2):
    params = {"variant": variant} if len(info.variants) > 1 else {}
    return info.build(channels, params, num_inputs=num_inputs).eval()


def run(info, module, x):
    return module([x, x.flip(-1) * 0.5]) if info.is_fusion else module(x)


@pytest.mark.parametrize("info,variant", VARIANTS, ids=IDS)
@pytest.mark.parametrize("channels", [8, 24, 64])
@pytest.mark.parametrize("height,width", [(1, 1), (7, 5), (16, 16)])
def test_op_keeps_shape_for_any_channels_and_size(
    info, variant, channels, height, width
):
    module = build(info, variant, channels)
    x = torch.randn(2, channels, height, width)
    with torch.no_grad():
        y = run(info, module, x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("info,variant", VARIANTS, ids=IDS)
def test_op_scripts_and_exports_with_same_output(info, variant):
    module = build(info, variant, 16)
    x = torch.randn(1, 16, 9, 11)
    args = ([x, x * 0.5],) if info.is_fusion else (x,)
    with torch.no_grad():
        expected = module(*args)
        scripted = torch.jit.script(module)(*args)
        exported = torch.export.export(module, args).module()(*args)
    torch.testing.assert_close(scripted, expected)
    torch.testing.assert_close(exported, expected)


@pytest.mark.parametrize("info,variant", VARIANTS, ids=IDS)
def test_op_trains_with_finite_gradients(info, variant):
    module = build(info, variant, 16).train()
    x = torch.randn(2, 16, 6, 6, requires_grad=True)
    out = run(info, module, x)
    if info.name == "none":
        assert not out.requires_grad
        return
    out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


@pytest.mark.parametrize("info", list(OPS), ids=[info.name for info in OPS])
def test_op_rejects_fewer_than_eight_channels_clearly(info):
    with pytest.raises(ValueError, match="at least 8 channels"):
        info.build(4, {}, num_inputs=2)
