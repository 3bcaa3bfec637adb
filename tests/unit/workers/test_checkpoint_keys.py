"""Checkpoints as mmcv 1.x loads them: ``init_cfg`` Pretrained's ``prefix`` with or without its dot, a prefix that
matches nothing refused, and ``init_model``/``load_from`` refusing a checkpoint that leaves weights unloaded
unless a partial load is asked for (the seed's fine-tuning, a head of another size, keeps working)."""

from __future__ import annotations

import pytest
import torch

from tests.support.mmcls_keys import cspnet_to_mmcls
from tests.support.specs import tiny_spec
from workers.apis import init_model
from workers.engine import train
from workers.models import build_model, load_weights
from workers.models.backbones.cspnet import cspdarknet_tiny
from workers.models.init import CheckpointMismatchError

BACKBONE = {"type": "ResNet_CIFAR", "depth": 18, "stem_channels": 8, "base_channels": 8}


def _classifier(num_classes: int = 3) -> dict:
    return {"type": "ImageClassifier", "backbone": dict(BACKBONE), "neck": {"type": "GlobalAveragePooling"},
            "head": {"type": "LinearClsHead", "num_classes": num_classes, "in_channels": 64}}


def _save(tmp_path, model, name="src.pth", drop=()) -> str:
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(tuple(drop))}
    path = tmp_path / name
    torch.save({"state_dict": state, "meta": {"CLASSES": ["a", "b", "c"]}}, path)
    return str(path)


@pytest.mark.parametrize("prefix", ["backbone", "backbone."])
def test_it_loads_the_backbone_of_a_classifier_with_the_seeds_prefix(tmp_path, prefix):
    source = build_model(_classifier(10))
    checkpoint = _save(tmp_path, source)
    backbone = build_model(BACKBONE | {"init_cfg": {"type": "Pretrained", "checkpoint": checkpoint, "prefix": prefix}})
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(backbone.state_dict()[key], value), key


def test_it_does_not_take_a_sibling_whose_name_starts_alike(tmp_path):
    source = build_model(_classifier())
    state = {f"backbone_ema.{k}": v + 1 for k, v in source.backbone.state_dict().items()}
    state.update({f"backbone.{k}": v for k, v in source.backbone.state_dict().items()})
    torch.save({"state_dict": state}, tmp_path / "ema.pth")
    backbone = build_model(BACKBONE | {"init_cfg": {"type": "Pretrained", "checkpoint": str(tmp_path / "ema.pth"),
                                                    "prefix": "backbone"}})
    assert torch.equal(backbone.conv1.weight, source.backbone.conv1.weight)


def test_it_refuses_a_prefix_that_matches_no_key(tmp_path):
    checkpoint = _save(tmp_path, build_model(_classifier()))
    with pytest.raises(CheckpointMismatchError) as caught:
        build_model(BACKBONE | {"init_cfg": {"type": "Pretrained", "checkpoint": checkpoint, "prefix": "bakbone"}})
    assert str(caught.value) == ("no weights under prefix 'bakbone.' in the checkpoint; its keys start with: "
                                 "backbone., head.")


def test_it_loads_an_mmcls_cspnet_checkpoint_with_its_downsampling_convs(tmp_path):
    source = cspdarknet_tiny()
    for param in source.parameters():
        param.data.normal_()
    mmcls = {f"backbone.{k}": v for k, v in cspnet_to_mmcls(source.state_dict()).items()}
    assert "backbone.stages.1.downsample_conv.conv.weight" in mmcls  # MMCls 0.25's name
    target = build_model(_classifier())
    target.backbone = cspdarknet_tiny()
    load_weights(target.backbone, {"state_dict": mmcls}, prefix="backbone", partial=False)
    torch.testing.assert_close(target.backbone.state_dict(), source.state_dict())
    image = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(target.backbone.eval()(image), source.eval()(image))


def test_init_model_refuses_a_checkpoint_that_leaves_weights_unloaded(tmp_path):
    checkpoint = _save(tmp_path, build_model(_classifier()), drop=("backbone.layer4.",))
    with pytest.raises(CheckpointMismatchError) as caught:
        init_model({"model": _classifier()}, checkpoint)
    message = str(caught.value)
    assert message.startswith("the checkpoint leaves 25 weights of the model unloaded: backbone.layer4.0.conv1.weight, ")
    assert "init_model(..., partial=True)" in message
    model = init_model({"model": _classifier()}, checkpoint, partial=True)
    assert model.CLASSES == ["a", "b", "c"]


def test_init_model_loads_a_head_of_another_size_as_the_seeds_fine_tuning(tmp_path):
    source = build_model(_classifier(10))
    model = init_model({"model": _classifier(3)}, _save(tmp_path, source))
    assert torch.equal(model.backbone.conv1.weight, source.backbone.conv1.weight)
    assert model.head.fc.weight.shape == (3, 64)


def test_load_from_refuses_a_partial_checkpoint_unless_the_spec_asks(tmp_path, tiny_root):
    partial = _save(tmp_path, build_model(_classifier()), drop=("backbone.layer4.",))
    spec = tiny_spec(max_epochs=1, load_from=partial)
    with pytest.raises(CheckpointMismatchError, match="leaves 25 weights of the model unloaded"):
        train(spec, tmp_path / "refused", data_root=tiny_root, validate=False, console=False)
    assert not (tmp_path / "refused" / "epoch_1.pth").exists()
    train(tiny_spec(max_epochs=1, load_from=partial, load_from_partial=True), tmp_path / "partial",
          data_root=tiny_root, validate=False, console=False)
    assert (tmp_path / "partial" / "epoch_1.pth").exists()
    ten_classes = _save(tmp_path, build_model(_classifier(10)), name="ten.pth")
    train(tiny_spec(max_epochs=1, load_from=ten_classes), tmp_path / "finetune", data_root=tiny_root,
          validate=False, console=False)
    assert (tmp_path / "finetune" / "epoch_1.pth").exists()
