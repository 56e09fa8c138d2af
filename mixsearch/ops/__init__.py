"""The op library: attention ops and fusion functions, one table, one factory.

Ops are small dependency-free `nn.Module` classes. The discrete model, the supernet and the code generator all
build them from this table, so an op's computation is written exactly once. The table names classes by import
path: importing it (and checking a space against it) imports no torch.
"""

from mixsearch.ops.checks import TASK_PRESETS, fixed_weight_values, gather_conv_levels
from mixsearch.ops.registry import MIN_CHANNELS, OpInfo, ParamSpec, Registry

OPS = Registry(
    [
        # channel attention
        OpInfo(
            "se",
            "channel",
            {"default": "mixsearch.ops.squeeze_excite.SqueezeExcite"},
            minimum={"reduction": 1},
        ),
        OpInfo(
            "ese",
            "channel",
            {"default": "mixsearch.ops.squeeze_excite.EffectiveSqueezeExcite"},
        ),
        OpInfo(
            "eca",
            "channel",
            {"default": "mixsearch.ops.eca.EfficientChannelAttention"},
            minimum={"gamma": 1},
        ),
        OpInfo(
            "cbam_channel",
            "channel",
            {
                "paper": "mixsearch.ops.cbam.CbamChannel",
                "light": "mixsearch.ops.cbam.CbamChannelLight",
                "ultralytics": "mixsearch.ops.cbam.CbamChannelUltralytics",
            },
            minimum={"reduction": 1},
        ),
        OpInfo(
            "multi_pool_channel",
            "channel",
            {"default": "mixsearch.ops.multi_pool.MultiPoolChannel"},
            minimum={"reduction": 1, "p": 1.0},
        ),
        # spatial attention
        OpInfo(
            "cbam_spatial",
            "spatial",
            {
                "paper": "mixsearch.ops.cbam.CbamSpatial",
                "timm": "mixsearch.ops.cbam.CbamSpatialNorm",
            },
            allowed={"kernel": (3, 5, 7)},
        ),
        OpInfo(
            "bottleneck_spatial",
            "spatial",
            {"default": "mixsearch.ops.bottleneck_spatial.BottleneckSpatial"},
            minimum={"reduction": 1},
        ),
        OpInfo(
            "multi_scale_spatial",
            "spatial",
            {"default": "mixsearch.ops.multi_scale_spatial.MultiScaleSpatial"},
            allowed={"max_kernel": (3, 5, 7)},
        ),
        OpInfo(
            "coord",
            "spatial",
            {
                "paper": "mixsearch.ops.coord_attention.CoordAttention",
                "timm": "mixsearch.ops.coord_attention.CoordAttentionTimm",
            },
            minimum={"reduction": 1},
        ),
        OpInfo(
            "triplet",
            "spatial",
            {"default": "mixsearch.ops.triplet.TripletAttention"},
            allowed={"kernel": (3, 5, 7)},
        ),
        # context attention
        OpInfo(
            "nonlocal",
            "context",
            {
                "paper": "mixsearch.ops.non_local.NonLocal",
                "timm": "mixsearch.ops.non_local.NonLocalTimm",
            },
            minimum={"reduction": 1},
        ),
        OpInfo(
            "global_context",
            "context",
            {
                "add": "mixsearch.ops.global_context.GlobalContext",
                "scale": "mixsearch.ops.global_context.GlobalContextScale",
            },
            minimum={"reduction": 1},
        ),
        OpInfo(
            "gather_excite",
            "context",
            {
                "pool": "mixsearch.ops.gather_excite.GatherExcite",
                "conv": "mixsearch.ops.gather_excite.GatherExciteConv",
            },
            allowed={"extent": (0, 2, 4, 8)},
            minimum={"reduction": 1},
            checks={"conv": lambda _, kwargs: gather_conv_levels(kwargs["extent"])},
        ),
        OpInfo(
            "simam",
            "context",
            {"default": "mixsearch.ops.simam.SimAM"},
            minimum={"e_lambda": 1e-8},
        ),
        OpInfo(
            "ema",
            "context",
            {"default": "mixsearch.ops.ema.EfficientMultiScaleAttention"},
            minimum={"groups": 1},
        ),
        OpInfo(
            "window_attention",
            "context",
            {"default": "mixsearch.ops.window_attention.WindowSelfAttention"},
            minimum={"window": 1, "head_dim": 1},
        ),
        # structural
        OpInfo("identity", "structural", {"default": "mixsearch.ops.basic.Identity"}),
        OpInfo("none", "structural", {"default": "mixsearch.ops.basic.Zero"}),
        OpInfo(
            "conv",
            "structural",
            {"default": "mixsearch.ops.basic.ConvStage"},
            allowed={"kernel": (1, 3, 5, 7)},
        ),
        # fusion functions
        OpInfo("sum", "fusion", {"default": "mixsearch.ops.fusion.Sum"}),
        OpInfo("mean", "fusion", {"default": "mixsearch.ops.fusion.Mean"}),
        OpInfo("last", "fusion", {"default": "mixsearch.ops.fusion.Last"}),
        OpInfo(
            "fixed_weights",
            "fusion",
            {"default": "mixsearch.ops.fusion.FixedWeights"},
            allowed={"preset": ("equal", *TASK_PRESETS)},
            checks={
                "default": lambda num_inputs, kwargs: fixed_weight_values(
                    num_inputs, kwargs["weights"], kwargs["preset"]
                )
            },
        ),
        OpInfo(
            "softmax_weights",
            "fusion",
            {"default": "mixsearch.ops.fusion.SoftmaxWeights"},
        ),
        OpInfo(
            "dynamic_weights",
            "fusion",
            {"default": "mixsearch.ops.fusion.DynamicWeights"},
            minimum={"reduction": 1},
        ),
        OpInfo("gate", "fusion", {"default": "mixsearch.ops.fusion.Gate"}),
        OpInfo("product", "fusion", {"default": "mixsearch.ops.fusion.Product"}),
        OpInfo("max", "fusion", {"default": "mixsearch.ops.fusion.Max"}),
        OpInfo("concat_conv", "fusion", {"default": "mixsearch.ops.fusion.ConcatConv"}),
        OpInfo(
            "cross_level",
            "fusion",
            {"default": "mixsearch.ops.fusion.CrossLevel"},
            minimum={"blend": 0.0},
        ),
    ]
)

__all__ = ["MIN_CHANNELS", "OPS", "OpInfo", "ParamSpec", "Registry"]
