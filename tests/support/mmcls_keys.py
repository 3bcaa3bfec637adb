"""MMClassification 0.25's key names for the weights of the backbones that wrap timm/torchvision modules, one
inverse per family: each test forges an MMCls checkpoint from a tiny variant with random weights and loads it.
Written out independently of the modules' own renaming rules, so that a test of those rules can fail."""
from __future__ import annotations

import re

from workers.models.backbones.efficientnet import EfficientNet


# --- convnext --------------------------------------------------------------------------------------------
def convnext_to_mmcls(key: str) -> str:
    key = (key.replace("stem.", "downsample_layers.0.").replace(".blocks.", ".")
           .replace(".conv_dw.", ".depthwise_conv.").replace(".mlp.fc", ".pointwise_conv"))
    for i in (1, 2, 3):
        key = key.replace(f"stages.{i}.downsample.", f"downsample_layers.{i}.")
    return key


# --- cspnet ----------------------------------------------------------------------------------------------
# timm's names -> MMCls's, written out independently of the module's rules
CSPNET_TO_MMCLS = [(r"^stem\.conv1\.", "stem."), (r"\.conv_down\.", ".downsample_conv."),
                   (r"\.conv_exp\.", ".expand_conv."), (r"\.conv_transition_b\.", ".atfer_blocks_conv."),
                   (r"\.conv_transition\.", ".final_conv.")]


def cspnet_to_mmcls(state_dict: dict) -> dict:
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in CSPNET_TO_MMCLS:
            key = re.sub(pattern, repl, key)
        out[key] = value.clone()
    return out


# --- efficientformer -------------------------------------------------------------------------------------
def efficientformer_to_mmcls(key: str) -> str:
    for i in (1, 2):
        key = key.replace(f"stem.conv{i}.", f"patch_embed.{i - 1}.conv.").replace(f"stem.norm{i}.",
                                                                                 f"patch_embed.{i - 1}.bn.")
    for stage in (1, 2, 3):
        key = key.replace(f"stages.{stage}.downsample.conv.", f"network.{stage}.0.conv.")
        key = key.replace(f"stages.{stage}.downsample.norm.", f"network.{stage}.0.bn.")
        for block in range(3):
            key = key.replace(f"stages.{stage}.blocks.{block}.", f"network.{stage}.{block + 1}.")
    key = key.replace("stages.0.blocks.", "network.0.")
    return key.replace(".gamma", ".weight")


# --- efficientnet ----------------------------------------------------------------------------------------
# timm's block attribute -> MMCls's, per block type, written out independently of the module's rules
EFFICIENTNET_TO_MMCLS = {
    "DepthwiseSeparableConv": {"conv_dw": "depthwise_conv.conv", "bn1": "depthwise_conv.bn",
                               "conv_pw": "linear_conv.conv", "bn2": "linear_conv.bn"},
    "InvertedResidual": {"conv_pw": "expand_conv.conv", "bn1": "expand_conv.bn", "conv_dw": "depthwise_conv.conv",
                         "bn2": "depthwise_conv.bn", "conv_pwl": "linear_conv.conv", "bn3": "linear_conv.bn"},
}

EFFICIENTNET_SE = {"se.conv_reduce": "se.conv1.conv", "se.conv_expand": "se.conv2.conv"}


def efficientnet_to_mmcls(backbone: EfficientNet) -> dict:
    out = {}
    for key, value in backbone.state_dict().items():
        match = re.match(r"^layers\.([1-5])\.(\d+)\.(se\.conv_\w+|\w+)\.(.*)$", key)
        if match:
            block = backbone.layers[int(match[1])][int(match[2])]
            names = {**EFFICIENTNET_TO_MMCLS[type(block).__name__], **EFFICIENTNET_SE}
            key = f"layers.{match[1]}.{match[2]}.{names[match[3]]}.{match[4]}"
        out[key] = value.clone()
    return out


# --- mlp_mixer -------------------------------------------------------------------------------------------
def mlp_mixer_to_mmcls(key: str) -> str:
    key = (key.replace("stem.proj.", "patch_embed.projection.").replace("blocks.", "layers.")
           .replace(".norm1.", ".ln1.").replace(".norm2.", ".ln2.")
           .replace("mlp_tokens.fc1.", "token_mix.layers.0.0.").replace("mlp_tokens.fc2.", "token_mix.layers.1.")
           .replace("mlp_channels.fc1.", "channel_mix.layers.0.0.")
           .replace("mlp_channels.fc2.", "channel_mix.layers.1."))
    return "ln1." + key[len("norm."):] if key.startswith("norm.") else key


# --- mobilenet_v3 ----------------------------------------------------------------------------------------
# MMCls's name of each torchvision module of the tiny variant (layer1: no expansion conv, SE;
# layer2: expansion conv, no SE; layer3: both)
MOBILENET_V3_PREFIX = {
    "layer0.0.": "layer0.conv.", "layer0.1.": "layer0.bn.",
    "layer1.block.0.0.": "layer1.depthwise_conv.conv.", "layer1.block.0.1.": "layer1.depthwise_conv.bn.",
    "layer1.block.1.fc1.": "layer1.se.conv1.conv.", "layer1.block.1.fc2.": "layer1.se.conv2.conv.",
    "layer1.block.2.0.": "layer1.linear_conv.conv.", "layer1.block.2.1.": "layer1.linear_conv.bn.",
    "layer2.block.0.0.": "layer2.expand_conv.conv.", "layer2.block.0.1.": "layer2.expand_conv.bn.",
    "layer2.block.1.0.": "layer2.depthwise_conv.conv.", "layer2.block.1.1.": "layer2.depthwise_conv.bn.",
    "layer2.block.2.0.": "layer2.linear_conv.conv.", "layer2.block.2.1.": "layer2.linear_conv.bn.",
    "layer3.block.0.0.": "layer3.expand_conv.conv.", "layer3.block.0.1.": "layer3.expand_conv.bn.",
    "layer3.block.1.0.": "layer3.depthwise_conv.conv.", "layer3.block.1.1.": "layer3.depthwise_conv.bn.",
    "layer3.block.2.fc1.": "layer3.se.conv1.conv.", "layer3.block.2.fc2.": "layer3.se.conv2.conv.",
    "layer3.block.3.0.": "layer3.linear_conv.conv.", "layer3.block.3.1.": "layer3.linear_conv.bn.",
    "layer4.0.": "layer4.conv.", "layer4.1.": "layer4.bn.",
}


def mobilenet_v3_to_mmcls(state_dict: dict) -> dict:
    out = {}
    for key, value in state_dict.items():
        prefix = next(p for p in MOBILENET_V3_PREFIX if key.startswith(p))
        out[MOBILENET_V3_PREFIX[prefix] + key[len(prefix):]] = value.clone()
    return out


# --- mvit ------------------------------------------------------------------------------------------------
def mvit_to_mmcls(state_dict: dict, depths: list[int]) -> dict:
    """MMCls 0.25 keeps one flat list of layers and calls the shortcut projection ``proj``."""
    starts = [sum(depths[:s]) for s in range(len(depths))]
    out = {}
    for key, value in state_dict.items():
        key = key.replace("patch_embed.proj.", "patch_embed.projection.")
        match = re.match(r"stages\.(\d+)\.blocks\.(\d+)\.(.*)$", key)
        if match:
            rest = match.group(3).replace("shortcut_proj_attn.", "proj.").replace("shortcut_proj_mlp.", "proj.")
            key = f"blocks.{starts[int(match.group(1))] + int(match.group(2))}.{rest}"
        out[key] = value
    return out


# --- poolformer ------------------------------------------------------------------------------------------
def poolformer_to_mmcls(key: str) -> str:
    key = key.replace("stem.conv.", "patch_embed.proj.").replace(".scale", "").replace("layer_scale", "layer_scale_")
    for k in range(4):
        key = key.replace(f"stages.{k}.blocks.", f"network.{2 * k}.")
        key = key.replace(f"stages.{k}.downsample.conv.", f"network.{2 * k - 1}.proj.")
    return key


# --- repvgg ----------------------------------------------------------------------------------------------
# this project's names -> MMCls 0.25's (the inverse of RepVGG.mmcls_key_rules), to forge an MMCls checkpoint
REPVGG_TO_MMCLS = [(r"\.conv_kxk\.bn\.", ".branch_3x3.norm."), (r"\.conv_kxk\.conv\.", ".branch_3x3.conv."),
                   (r"\.conv_1x1\.bn\.", ".branch_1x1.norm."), (r"\.conv_1x1\.conv\.", ".branch_1x1.conv."),
                   (r"\.identity\.", ".branch_norm."), (r"\.reparam_conv\.", ".branch_reparam."),
                   (r"\.attn\.fc1\.", ".se_layer.conv1.conv."), (r"\.attn\.fc2\.", ".se_layer.conv2.conv.")]


def repvgg_to_mmcls(state_dict: dict) -> dict:
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in REPVGG_TO_MMCLS:
            key = re.sub(pattern, repl, key)
        out[key] = value.clone()
    return out


# --- shufflenet_v2 ---------------------------------------------------------------------------------------
# torchvision's Sequential index -> MMCls's ConvModule name, written out independently of the module's rules
SHUFFLENET_V2_TO_MMCLS = {"branch1": {"0": "0.conv", "1": "0.bn", "2": "1.conv", "3": "1.bn"},
                          "branch2": {"0": "0.conv", "1": "0.bn", "3": "1.conv", "4": "1.bn", "5": "2.conv", "6": "2.bn"}}


def shufflenet_v2_to_mmcls(state_dict: dict) -> dict:
    out = {}
    for key, value in state_dict.items():
        match = re.match(r"^(layers\.\d+\.\d+)\.(branch[12])\.(\d+)\.(.*)$", key)
        if match:
            key = f"{match[1]}.{match[2]}.{SHUFFLENET_V2_TO_MMCLS[match[2]][match[3]]}.{match[4]}"
        else:
            key = re.sub(r"^(conv1|layers\.3)\.0\.", r"\1.conv.", key)
            key = re.sub(r"^(conv1|layers\.3)\.1\.", r"\1.bn.", key)
        out[key] = value.clone()
    return out


# --- tnt -------------------------------------------------------------------------------------------------
TNT_TO_MMCLS = [
    (r"^proj\.", "projection."),
    (r"^blocks\.(\d+)\.norm_in\.", r"layers.\1.inner_block.norm_attn."),
    (r"^blocks\.(\d+)\.attn_in\.", r"layers.\1.inner_block.attn."),
    (r"^blocks\.(\d+)\.norm_mlp_in\.", r"layers.\1.inner_block.norm_ffn."),
    (r"^blocks\.(\d+)\.mlp_in\.fc1\.", r"layers.\1.inner_block.ffn.layers.0.0."),
    (r"^blocks\.(\d+)\.mlp_in\.fc2\.", r"layers.\1.inner_block.ffn.layers.1."),
    (r"^blocks\.(\d+)\.norm1_proj\.", r"layers.\1.norm_proj."),
    (r"^blocks\.(\d+)\.proj\.", r"layers.\1.projection."),
    (r"^blocks\.(\d+)\.norm_out\.", r"layers.\1.outer_block.norm_attn."),
    (r"^blocks\.(\d+)\.attn_out\.", r"layers.\1.outer_block.attn."),
    (r"^blocks\.(\d+)\.norm_mlp\.", r"layers.\1.outer_block.norm_ffn."),
    (r"^blocks\.(\d+)\.mlp\.fc1\.", r"layers.\1.outer_block.ffn.layers.0.0."),
    (r"^blocks\.(\d+)\.mlp\.fc2\.", r"layers.\1.outer_block.ffn.layers.1."),
]


def tnt_to_mmcls(state_dict: dict) -> dict:
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in TNT_TO_MMCLS:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


# --- twins -----------------------------------------------------------------------------------------------
def twins_to_mmcls(state_dict: dict) -> dict:
    """How MMCls 0.25 names the same weights."""
    out = {}
    for key, value in state_dict.items():
        key = re.sub(r"^patch_embeds\.(\d+)\.proj\.", r"patch_embeds.\1.projection.", key)
        key = re.sub(r"^pos_block\.(\d+)\.proj\.0\.", r"position_encodings.\1.proj.", key)
        key = re.sub(r"^blocks\.", "stages.", key)
        key = key.replace(".mlp.fc1.", ".ffn.layers.0.0.").replace(".mlp.fc2.", ".ffn.layers.1.")
        out[key] = value
    return out
