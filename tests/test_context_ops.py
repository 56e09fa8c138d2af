"""Context attention ops: behaviour the generic op tests do not pin down."""

import math

import pytest
import torch
from torch import nn

from mixsearch.ops import OPS


def build(name, channels, **params):
    return OPS.get(name).build(channels, params).eval()


def test_simam_has_no_parameters_and_matches_its_closed_form_energy():
    simam = build("simam", 8, e_lambda=1e-4)
    x = torch.tensor([0.0, 1.0, 2.0]).reshape(1, 1, 1, 3).repeat(1, 8, 1, 1)
    # mean 1, squared deviations (1, 0, 1), variance 2 / (3 - 1) = 1
    inverse_energy = [1 / (4 * 1.0001) + 0.5, 0.5, 1 / (4 * 1.0001) + 0.5]
    expected = [
        v * 1 / (1 + math.exp(-e)) for v, e in zip([0.0, 1.0, 2.0], inverse_energy)
    ]

    assert list(simam.parameters()) == []
    torch.testing.assert_close(simam(x)[0, 3, 0], torch.tensor(expected))


def test_simam_on_a_single_position_gates_by_sigmoid_of_one_half():
    x = torch.randn(2, 8, 1, 1)
    torch.testing.assert_close(
        build("simam", 8)(x), x * torch.sigmoid(torch.tensor(0.5))
    )


def test_nonlocal_paper_form_is_softmax_attention_over_all_positions_plus_input():
    block = build("nonlocal", 16, variant="paper", reduction=2)
    x = torch.randn(2, 16, 5, 3)
    query, key, value = (
        conv(x).flatten(2) for conv in (block.query, block.key, block.value)
    )
    attn = torch.softmax(query.transpose(1, 2) @ key / math.sqrt(8), dim=-1)
    expected = x + (value @ attn.transpose(1, 2)).reshape_as(x)

    torch.testing.assert_close(block(x), expected)


def test_nonlocal_timm_form_starts_as_the_identity():
    x = torch.randn(2, 32, 6, 6)
    torch.testing.assert_close(build("nonlocal", 32, variant="timm")(x), x)


@pytest.mark.parametrize("height,width", [(5, 7), (7, 7), (3, 1)])
def test_window_attention_is_global_self_attention_when_the_window_covers_the_map(
    height, width
):
    block = build("window_attention", 64, window=7, head_dim=16)
    reference = nn.MultiheadAttention(64, num_heads=4, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_weight.copy_(block.qkv.weight.flatten(1))
        reference.in_proj_bias.copy_(block.qkv.bias)
        reference.out_proj.weight.copy_(block.proj.weight.flatten(1))
        reference.out_proj.bias.copy_(block.proj.bias)
    x = torch.randn(2, 64, height, width)
    tokens = x.flatten(2).transpose(1, 2)
    expected = x + reference(tokens, tokens, tokens, need_weights=False)[0].transpose(
        1, 2
    ).reshape_as(x)

    assert block.heads == 4
    torch.testing.assert_close(block(x), expected)


def test_window_attention_attends_only_within_each_window_and_ignores_padding():
    block = build("window_attention", 16, window=4)
    x = torch.randn(1, 16, 6, 9)
    out = block(x)

    for rows in (slice(0, 4), slice(4, 6)):
        for cols in (slice(0, 4), slice(4, 8), slice(8, 9)):
            torch.testing.assert_close(
                out[:, :, rows, cols], block(x[:, :, rows, cols])
            )


@pytest.mark.parametrize("channels,heads", [(8, 1), (24, 1), (64, 2), (96, 3), (80, 2)])
def test_window_attention_uses_the_divisor_of_channels_nearest_channels_over_head_dim(
    channels, heads
):
    assert build("window_attention", channels, head_dim=32).heads == heads


@pytest.mark.parametrize("channels,groups", [(8, 8), (12, 6), (24, 8)])
def test_ema_uses_the_largest_group_count_dividing_channels(channels, groups):
    block = build("ema", channels, groups=8)
    x = torch.randn(2, channels, 6, 5)

    assert block.groups == groups
    assert block(x).shape == x.shape


def test_ema_gates_each_group_independently():
    block = build("ema", 16, groups=4)
    x = torch.randn(1, 16, 6, 6)
    changed = x.clone()
    changed[:, :4] += 1.0

    unchanged_groups = slice(4, 16)
    torch.testing.assert_close(
        block(changed)[:, unchanged_groups], block(x)[:, unchanged_groups]
    )


def test_global_context_add_and_scale_fuse_the_same_context_differently():
    add = build("global_context", 16, variant="add")
    scale = build("global_context", 16, variant="scale")
    scale.load_state_dict(add.state_dict())
    x = torch.randn(2, 16, 5, 5)
    transformed = add.transform(add.pool(x))

    torch.testing.assert_close(add(x), x + transformed)
    torch.testing.assert_close(scale(x), x * torch.sigmoid(transformed))
    assert transformed.shape == (2, 16, 1, 1)


def test_gather_excite_learned_gather_rejects_the_global_extent():
    with pytest.raises(ValueError, match="extent a power of two >= 2"):
        OPS.get("gather_excite").build(16, {"variant": "conv", "extent": 0})


def test_gather_excite_global_extent_scales_each_channel_uniformly():
    x = torch.rand(2, 16, 5, 7) + 0.5
    gate = build("gather_excite", 16, variant="pool")(x) / x

    torch.testing.assert_close(gate, gate[:, :, :1, :1].expand_as(gate))
