"""VisionTransformer and DeiT: Model Zoo parameter counts, MMCls key names, output formats, pos_embed resizing."""

from __future__ import annotations

import pytest
import torch

from workers.models import build_model, load_weights
from workers.models.backbones.vision_transformer import vit_tiny

TINY_ARCH = {"embed_dims": 32, "num_layers": 2, "num_heads": 2, "feedforward_channels": 64}


def _vit_classifier(arch: str, patch_size: int, img_size: int, in_channels: int) -> dict:
    # the library's vit-*-p* bases with the 384 fine-tuning size
    return {"type": "ImageClassifier",
            "backbone": {"type": "VisionTransformer", "arch": arch, "img_size": img_size, "patch_size": patch_size,
                         "drop_rate": 0.1, "init_cfg": [{"type": "Kaiming", "layer": "Conv2d", "mode": "fan_in",
                                                         "nonlinearity": "linear"}]},
            "neck": None,
            "head": {"type": "VisionTransformerClsHead", "num_classes": 1000, "in_channels": in_channels}}


@pytest.mark.parametrize(("arch", "patch_size", "in_channels", "expected", "table_millions"), [
    ("b", 16, 768, 86_859_496, 86.86),
    ("b", 32, 768, 88_297_192, 88.30),
    ("l", 16, 1024, 304_715_752, 304.72),
])
def test_it_builds_vit_at_384_with_the_model_zoo_parameter_count(arch, patch_size, in_channels, expected,
                                                                 table_millions):
    with torch.device("meta"):
        model = build_model(_vit_classifier(arch, patch_size, 384, in_channels))
    count = sum(p.numel() for p in model.parameters())
    assert count == expected
    assert abs(count / (table_millions * 1e6) - 1) < 0.01


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(vit_tiny().state_dict())
    assert names == {"cls_token", "pos_embed", "patch_embed.projection.weight", "patch_embed.projection.bias",
                     "ln1.weight", "ln1.bias"} | {
        f"layers.{i}.{part}.{kind}" for i in range(2) for kind in ("weight", "bias")
        for part in ("ln1", "attn.qkv", "attn.proj", "ln2", "ffn.layers.0.0", "ffn.layers.1")}
    assert vit_tiny().pos_embed.shape == (1, 17, 32)


def test_it_returns_patch_and_class_tokens_per_out_index():
    backbone = vit_tiny(out_indices=(0, -1))
    outs = backbone(torch.randn(2, 3, 32, 32))
    assert len(outs) == 2
    for patch_token, cls_token in outs:
        assert patch_token.shape == (2, 32, 4, 4) and cls_token.shape == (2, 32)
    (patch_token,) = vit_tiny(output_cls_token=False)(torch.randn(2, 3, 32, 32))
    assert patch_token.shape == (2, 32, 4, 4)
    (pooled,) = vit_tiny(output_cls_token=False, avg_token=True, final_norm=False)(torch.randn(2, 3, 32, 32))
    assert pooled.shape == (2, 32)
    (patch_token,) = vit_tiny(output_cls_token=False, with_cls_token=False)(torch.randn(2, 3, 32, 32))
    assert patch_token.shape == (2, 32, 4, 4)
    with pytest.raises(ValueError, match="with_cls_token must be True"):
        vit_tiny(with_cls_token=False)


def test_it_interpolates_pos_embed_for_other_image_sizes():
    backbone = vit_tiny().eval()
    (patch_token, _), = backbone(torch.randn(1, 3, 48, 40))
    assert patch_token.shape == (1, 32, 6, 5)
    (patch_token, _), = backbone(torch.randn(1, 3, 30, 30))  # padded to 32 at the corner
    assert patch_token.shape == (1, 32, 4, 4)


def test_it_resizes_a_checkpoint_pos_embed_to_the_fine_tuning_size():
    source = vit_tiny()
    target = vit_tiny(img_size=48)
    missing, unexpected = load_weights(target, {"state_dict": source.state_dict()})
    assert missing == [] and unexpected == []
    assert target.pos_embed.shape == (1, 37, 32)
    assert torch.equal(target.pos_embed[:, 0], source.pos_embed[:, 0])  # the class token's is kept
    assert torch.equal(target.layers[1].attn.qkv.weight, source.layers[1].attn.qkv.weight)
    plain = vit_tiny(img_size=48)
    plain.load_state_dict(source.state_dict())  # a plain load_state_dict resizes too, as in MMCls
    assert torch.equal(plain.pos_embed, target.pos_embed)


def test_it_uses_mmcls_default_initialisation_and_drop_path_schedule():
    backbone = vit_tiny(drop_path_rate=0.2)
    assert torch.count_nonzero(backbone.cls_token) == 0
    assert 0 < backbone.pos_embed.std() < 0.05
    assert backbone.layers[0].ffn.layers[0][0].bias.abs().max() < 1e-4
    assert isinstance(backbone.layers[0].drop_path, torch.nn.Identity)
    assert backbone.layers[1].drop_path.drop_prob == pytest.approx(0.2)


def test_it_trains_and_scores_a_tiny_vit_classifier():
    model = build_model({"type": "ImageClassifier",
                         "backbone": {"type": "VisionTransformer", "arch": TINY_ARCH, "img_size": 32, "patch_size": 8},
                         "neck": None,
                         "head": {"type": "VisionTransformerClsHead", "num_classes": 5, "in_channels": 32,
                                  "hidden_dim": 16,
                                  "loss": {"type": "LabelSmoothLoss", "label_smooth_val": 0.1,
                                           "mode": "classy_vision"}}})
    img, label = torch.randn(3, 3, 32, 32), torch.tensor([0, 4, 2])
    losses = model(img, gt_label=label)
    losses["loss"].backward()
    assert model.backbone.layers[0].attn.qkv.weight.grad is not None
    model.eval()
    assert model.simple_test(img).shape == (3, 5)
    assert model.extract_feat(img, stage="pre_logits").shape == (3, 16)  # tanh(pre_logits(cls_token))


def test_it_outputs_class_and_distillation_tokens_for_deit():
    model = build_model({"type": "ImageClassifier",
                         "backbone": {"type": "DistilledVisionTransformer", "arch": TINY_ARCH, "img_size": 32,
                                      "patch_size": 8},
                         "neck": None,
                         "head": {"type": "DeiTClsHead", "num_classes": 4, "in_channels": 32}})
    assert model.backbone.pos_embed.shape == (1, 18, 32)
    assert "dist_token" in model.backbone.state_dict()
    (patch_token, cls_token, dist_token), = model.backbone(torch.randn(2, 3, 32, 32))
    assert patch_token.shape == (2, 32, 4, 4) and cls_token.shape == dist_token.shape == (2, 32)
    with torch.device("meta"):
        deit_base = build_model({"type": "DistilledVisionTransformer", "arch": "deit-base"})
    # timm's deit_base_distilled_patch16_224 backbone: 87.34M with heads of 2 x 769k
    assert sum(p.numel() for p in deit_base.parameters()) == 87_338_192 - 2 * 769_000
