"""The op library: attention ops and fusion functions, one table, one factory.

Ops are small dependency-free `nn.Module` classes. The discrete model, the supernet and the code generator all
build them from this table, so an op's computation is written exactly once.
"""

from mixsearch.ops import (
    basic,
    bottleneck_spatial,
    cbam,
    coord_attention,
    eca,
    ema,
    fusion,
    gather_excite,
    global_context,
    multi_pool,
    multi_scale_spatial,
    non_local,
    simam,
    squeeze_excite,
    triplet,
    window_attention,
)
from mixsearch.ops.registry import OpInfo, ParamSpec, Registry

OPS = Registry(
    [
        # channel attention
        OpInfo(
            "se",
            "channel",
            {"default": squeeze_excite.SqueezeExcite},
            minimum={"reduction": 1},
        ),
        OpInfo("ese", "channel", {"default": squeeze_excite.EffectiveSqueezeExcite}),
        OpInfo(
            "eca",
            "channel",
            {"default": eca.EfficientChannelAttention},
            minimum={"gamma": 1},
        ),
        OpInfo(
            "cbam_channel",
            "channel",
            {
                "paper": cbam.CbamChannel,
                "light": cbam.CbamChannelLight,
                "ultralytics": cbam.CbamChannelUltralytics,
            },
            minimum={"reduction": 1},
        ),
        OpInfo(
            "multi_pool_channel",
            "channel",
            {"default": multi_pool.MultiPoolChannel},
            minimum={"reduction": 1, "p": 1.0},
        ),
        # spatial attention
        OpInfo(
            "cbam_spatial",
            "spatial",
            {"paper": cbam.CbamSpatial, "timm": cbam.CbamSpatialNorm},
            allowed={"kernel": (3, 5, 7)},
        ),
        OpInfo(
            "bottleneck_spatial",
            "spatial",
            {"default": bottleneck_spatial.BottleneckSpatial},
            minimum={"reduction": 1},
        ),
        OpInfo(
            "multi_scale_spatial",
            "spatial",
            {"default": multi_scale_spatial.MultiScaleSpatial},
            allowed={"max_kernel": (3, 5, 7)},
        ),
        OpInfo(
            "coord",
            "spatial",
            {
                "paper": coord_attention.CoordAttention,
                "timm": coord_attention.CoordAttentionTimm,
            },
            minimum={"reduction": 1},
        ),
        OpInfo(
            "triplet",
            "spatial",
            {"default": triplet.TripletAttention},
            allowed={"kernel": (3, 5, 7)},
        ),
        # context attention
        OpInfo(
            "nonlocal",
            "context",
            {"paper": non_local.NonLocal, "timm": non_local.NonLocalTimm},
            minimum={"reduction": 1},
        ),
        OpInfo(
            "global_context",
            "context",
            {
                "add": global_context.GlobalContext,
                "scale": global_context.GlobalContextScale,
            },
            minimum={"reduction": 1},
        ),
        OpInfo(
            "gather_excite",
            "context",
            {
                "pool": gather_excite.GatherExcite,
                "conv": gather_excite.GatherExciteConv,
            },
            allowed={"extent": (0, 2, 4, 8)},
            minimum={"reduction": 1},
        ),
        OpInfo(
            "simam", "context", {"default": simam.SimAM}, minimum={"e_lambda": 1e-8}
        ),
        OpInfo(
            "ema",
            "context",
            {"default": ema.EfficientMultiScaleAttention},
            minimum={"groups": 1},
        ),
        OpInfo(
            "window_attention",
            "context",
            {"default": window_attention.WindowSelfAttention},
            minimum={"window": 1, "head_dim": 1},
        ),
        # structural
        OpInfo("identity", "structural", {"default": basic.Identity}),
        OpInfo("none", "structural", {"default": basic.Zero}),
        OpInfo(
            "conv",
            "structural",
            {"default": basic.Conv},
            allowed={"kernel": (1, 3, 5, 7)},
        ),
        # fusion functions
        OpInfo("sum", "fusion", {"default": fusion.Sum}),
        OpInfo("mean", "fusion", {"default": fusion.Mean}),
        OpInfo("last", "fusion", {"default": fusion.Last}),
        OpInfo(
            "fixed_weights",
            "fusion",
            {"default": fusion.FixedWeights},
            allowed={"preset": ("equal", *fusion.TASK_PRESETS)},
        ),
        OpInfo("softmax_weights", "fusion", {"default": fusion.SoftmaxWeights}),
        OpInfo(
            "dynamic_weights",
            "fusion",
            {"default": fusion.DynamicWeights},
            minimum={"reduction": 1},
        ),
        OpInfo("gate", "fusion", {"default": fusion.Gate}),
        OpInfo("product", "fusion", {"default": fusion.Product}),
        OpInfo("max", "fusion", {"default": fusion.Max}),
        OpInfo("concat_conv", "fusion", {"default": fusion.ConcatConv}),
        OpInfo(
            "cross_level",
            "fusion",
            {"default": fusion.CrossLevel},
            minimum={"blend": 0.0},
        ),
    ]
)

__all__ = ["OPS", "OpInfo", "ParamSpec", "Registry"]
