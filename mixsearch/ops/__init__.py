"""The op library: attention ops and fusion functions, one table, one factory.

Ops are small dependency-free `nn.Module` classes. The discrete model, the supernet and the code generator all
build them from this table, so an op's computation is written exactly once.
"""

from mixsearch.ops import basic, cbam, eca, fusion, squeeze_excite
from mixsearch.ops.registry import OpInfo, ParamSpec, Registry

OPS = Registry(
    [
        # channel attention
        OpInfo("se", "channel", {"default": squeeze_excite.SqueezeExcite}, minimum={"reduction": 1}),
        OpInfo("ese", "channel", {"default": squeeze_excite.EffectiveSqueezeExcite}),
        OpInfo("eca", "channel", {"default": eca.EfficientChannelAttention}, minimum={"gamma": 1}),
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
        # spatial attention
        OpInfo(
            "cbam_spatial",
            "spatial",
            {"paper": cbam.CbamSpatial, "timm": cbam.CbamSpatialNorm},
            allowed={"kernel": (3, 5, 7)},
        ),
        # context attention
        # structural
        OpInfo("identity", "structural", {"default": basic.Identity}),
        OpInfo("none", "structural", {"default": basic.Zero}),
        OpInfo("conv", "structural", {"default": basic.Conv}, allowed={"kernel": (1, 3, 5, 7)}),
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
        OpInfo("dynamic_weights", "fusion", {"default": fusion.DynamicWeights}, minimum={"reduction": 1}),
        OpInfo("gate", "fusion", {"default": fusion.Gate}),
        OpInfo("product", "fusion", {"default": fusion.Product}),
        OpInfo("max", "fusion", {"default": fusion.Max}),
        OpInfo("concat_conv", "fusion", {"default": fusion.ConcatConv}),
        OpInfo("cross_level", "fusion", {"default": fusion.CrossLevel}, minimum={"blend": 0.0}),
    ]
)

__all__ = ["OPS", "OpInfo", "ParamSpec", "Registry"]
