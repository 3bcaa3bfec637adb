"""Models: MMCls parameter counts and names, output shapes, frozen stages, forward semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workers.models import build_model
from workers.models.backbones.resnet import resnet_tiny


def _classifier(backbone: dict, num_classes: int, in_channels: int) -> dict:
    return {"type": "ImageClassifier", "backbone": backbone, "neck": {"type": "GlobalAveragePooling"},
            "head": {"type": "LinearClsHead", "num_classes": num_classes, "in_channels": in_channels,
                     "topk": (1, 5)}}


def test_it_builds_resnet50_with_the_model_zoo_parameter_count():
    model = build_model(_classifier({"type": "ResNet", "depth": 50}, 1000, 2048))
    assert sum(p.numel() for p in model.parameters()) == 25_557_032  # the seed's table: 25.56M


def test_it_names_parameters_as_mmcls_checkpoints_do():
    names = set(build_model({"type": "ResNetV1d", "depth": 50}).state_dict())
    assert {"stem.0.conv.weight", "stem.0.bn.running_mean", "stem.2.bn.weight",
            "layer1.0.downsample.0.weight", "layer2.0.downsample.1.weight", "layer2.0.downsample.2.running_var",
            "layer4.2.conv3.weight", "layer4.2.bn3.bias"} <= names
    plain = set(build_model({"type": "ResNet", "depth": 18}).state_dict())
    assert {"conv1.weight", "bn1.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.bias"} <= plain


def test_it_keeps_the_resolution_in_the_cifar_stem():
    backbone = build_model({"type": "ResNet_CIFAR", "depth": 18, "out_indices": (0, 1, 2, 3)})
    outs = backbone(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8), (2, 512, 4, 4)]
    assert not hasattr(backbone, "maxpool")
    imagenet = build_model({"type": "ResNet", "depth": 18, "out_indices": (0,)})
    assert tuple(imagenet(torch.randn(2, 3, 32, 32))[0].shape) == (2, 64, 8, 8)


def test_it_freezes_the_stem_and_first_stages_even_after_train():
    backbone = resnet_tiny(frozen_stages=1)
    backbone.train()
    assert not any(p.requires_grad for p in backbone.conv1.parameters())
    assert not any(p.requires_grad for p in backbone.layer1.parameters())
    assert all(p.requires_grad for p in backbone.layer2.parameters())
    assert not backbone.bn1.training and not backbone.layer1[0].bn1.training
    assert backbone.layer2[0].bn1.training


def test_it_keeps_batchnorm_in_eval_with_norm_eval():
    backbone = resnet_tiny(norm_eval=True)
    backbone.train()
    assert all(not m.training for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_it_zero_initialises_the_last_norm_of_each_block():
    backbone = resnet_tiny()
    assert torch.count_nonzero(backbone.layer1[0].bn2.weight) == 0
    assert torch.all(backbone.layer1[0].bn1.weight == 1)


def test_it_returns_losses_when_training_and_scores_when_testing():
    model = build_model(_classifier({"type": "ResNet_CIFAR", "depth": 18, "stem_channels": 8, "base_channels": 8},
                                    10, 64))
    img, label = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    losses = model(img, gt_label=label)
    assert set(losses) == {"loss"} and losses["loss"].requires_grad
    assert torch.allclose(losses["loss"], model.forward_train(img, label)["loss"])
    model.eval()
    scores = model.simple_test(img)
    assert scores.shape == (4, 10) and torch.allclose(scores.sum(1), torch.ones(4))
    listed = model(img, return_loss=False)
    assert isinstance(listed, list) and len(listed) == 4 and isinstance(listed[0], np.ndarray)


def test_it_runs_lenet5_with_a_plain_cls_head():
    model = build_model({"type": "ImageClassifier", "backbone": {"type": "LeNet5", "num_classes": 10},
                         "neck": None, "head": {"type": "ClsHead", "cal_acc": True, "topk": (1, 5)}})
    losses = model(torch.randn(1, 1, 32, 32), gt_label=torch.tensor([3]))
    assert set(losses) == {"loss", "accuracy"} and set(losses["accuracy"]) == {"top-1", "top-5"}


def test_it_computes_cross_entropy_and_label_smoothing_as_defined():
    scores, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    ce = build_model({"type": "CrossEntropyLoss", "loss_weight": 2.0})
    assert torch.allclose(ce(scores, labels), 2.0 * F.cross_entropy(scores, labels))
    smooth = build_model({"type": "LabelSmoothLoss", "label_smooth_val": 0.1})
    target = F.one_hot(labels, 4).float() * 0.9 + 0.1 / 4
    expected = (-target * F.log_softmax(scores, dim=1)).sum(1).mean()
    assert torch.allclose(smooth(scores, labels), expected)
    soft = build_model({"type": "CrossEntropyLoss", "use_soft": True})
    assert torch.allclose(soft(scores, target), expected)


def test_it_fails_clearly_on_unknown_types_and_arguments():
    with pytest.raises(KeyError, match="Did you mean: ResNet"):
        build_model({"type": "ResNt", "depth": 18})
    with pytest.raises(KeyError, match="invalid depth 19"):
        build_model({"type": "ResNet", "depth": 19})
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        build_model({"type": "ResNet", "depth": 18, "colour": 1})


def test_it_fine_tunes_from_a_checkpoint_with_another_head(tmp_path):
    backbone = {"type": "ResNet_CIFAR", "depth": 18, "stem_channels": 8, "base_channels": 8}
    source = build_model(_classifier(backbone, 10, 64))
    torch.save({"state_dict": source.state_dict(), "meta": {"epoch": 1}}, tmp_path / "src.pth")

    target = build_model(_classifier(backbone, 3, 64) | {"init_cfg": {"type": "Pretrained",
                                                                      "checkpoint": str(tmp_path / "src.pth")}})
    assert torch.equal(target.backbone.layer1[0].conv1.weight, source.backbone.layer1[0].conv1.weight)
    assert target.head.fc.weight.shape == (3, 64)  # mismatched head skipped, not loaded

    only_backbone = build_model(backbone | {"init_cfg": {"type": "Pretrained", "checkpoint": str(tmp_path / "src.pth"),
                                                         "prefix": "backbone."}})
    assert torch.equal(only_backbone.conv1.weight, source.backbone.conv1.weight)
