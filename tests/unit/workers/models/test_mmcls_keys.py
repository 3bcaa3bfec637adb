"""Every backbone that wraps timm/torchvision modules loads a checkpoint in MMClassification 0.25's key names
both ways (a plain ``load_state_dict`` and ``load_weights``), and leaves keys already in our names alone.

The MMCls checkpoints are forged with each family's own test inverse (written independently of the
module's rules), from the smallest variant with random weights.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from tests.support.mmcls_keys import (
    convnext_to_mmcls,
    cspnet_to_mmcls,
    efficientformer_to_mmcls,
    efficientnet_to_mmcls,
    mlp_mixer_to_mmcls,
    mobilenet_v3_to_mmcls,
    mvit_to_mmcls,
    poolformer_to_mmcls,
    repvgg_to_mmcls,
    shufflenet_v2_to_mmcls,
    tnt_to_mmcls,
    twins_to_mmcls,
)
from workers.models import load_weights
from workers.models.backbones.convnext import convnext_tiny_test
from workers.models.backbones.cspnet import cspdarknet_tiny
from workers.models.backbones.efficientformer import efficientformer_tiny_test
from workers.models.backbones.efficientnet import efficientnet_tiny
from workers.models.backbones.mlp_mixer import mlp_mixer_tiny_test
from workers.models.backbones.mobilenet_v3 import mobilenet_v3_tiny
from workers.models.backbones.mvit import mvit_tiny_test
from workers.models.backbones.poolformer import poolformer_tiny_test
from workers.models.backbones.repvgg import repvgg_tiny
from workers.models.backbones.shufflenet_v2 import shufflenet_v2_tiny
from workers.models.backbones.tnt import tnt_tiny_test
from workers.models.backbones.twins import pcpvt_tiny_test, svt_tiny_test


def _per_key(to_mmcls):
    return lambda backbone: {to_mmcls(k): v for k, v in backbone.state_dict().items()}


def _whole(to_mmcls):
    return lambda backbone: to_mmcls(backbone.state_dict())


# family -> (smallest variant, its state dict in MMCls's names)
FAMILIES = {
    "shufflenet_v2": (shufflenet_v2_tiny, _whole(shufflenet_v2_to_mmcls)),
    "cspnet": (cspdarknet_tiny, _whole(cspnet_to_mmcls)),
    "twins_pcpvt": (pcpvt_tiny_test, _whole(twins_to_mmcls)),
    "twins_svt": (svt_tiny_test, _whole(twins_to_mmcls)),
    "repvgg": (repvgg_tiny, _whole(repvgg_to_mmcls)),
    "efficientnet": (efficientnet_tiny, efficientnet_to_mmcls),
    "tnt": (tnt_tiny_test, _whole(tnt_to_mmcls)),
    "mvit": (mvit_tiny_test,
             lambda backbone: mvit_to_mmcls(backbone.state_dict(), [len(s.blocks) for s in backbone.stages])),
    "mobilenet_v3": (mobilenet_v3_tiny, _whole(mobilenet_v3_to_mmcls)),
    "poolformer": (poolformer_tiny_test, _per_key(poolformer_to_mmcls)),
    "mlp_mixer": (mlp_mixer_tiny_test, _per_key(mlp_mixer_to_mmcls)),
    "efficientformer": (efficientformer_tiny_test, _per_key(efficientformer_to_mmcls)),
    "convnext": (convnext_tiny_test, _per_key(convnext_to_mmcls)),
}

parametrize_families = pytest.mark.parametrize("family", list(FAMILIES))


def _forge(family: str):
    """The family's factory, a backbone with random weights, and its state dict in MMCls's names."""
    factory, to_mmcls = FAMILIES[family]
    torch.manual_seed(0)
    source = factory()
    with torch.no_grad():
        for param in source.parameters():
            param.normal_()
    mmcls = to_mmcls(source)
    assert len(mmcls) == len(source.state_dict())
    assert set(mmcls) - set(source.state_dict()), "the forged checkpoint should use MMCls's names"
    return factory, source, mmcls


@parametrize_families
def test_a_plain_load_state_dict_takes_mmcls_names(family):
    factory, source, mmcls = _forge(family)
    target = factory()
    target.load_state_dict(mmcls)  # strict: every MMCls key found its parameter
    torch.testing.assert_close(target.state_dict(), source.state_dict())
    again = pickle.loads(pickle.dumps(factory()))  # whole-model checkpoints and Ray pickle the backbone
    again.load_state_dict(mmcls)
    torch.testing.assert_close(again.state_dict(), source.state_dict())


@parametrize_families
def test_load_weights_renames_mmcls_names_before_its_shape_check(family):
    factory, source, mmcls = _forge(family)
    ours = dict(zip(mmcls, source.state_dict(), strict=True))  # MMCls name -> ours (the inverses keep order)
    # a renamed tensor of another shape is skipped with a warning, not a size-mismatch error
    bad = next(k for k, v in mmcls.items() if ours[k] != k and v.is_floating_point() and v.dim() > 0)
    checkpoint = {f"backbone.{k}": v for k, v in mmcls.items()}
    checkpoint[f"backbone.{bad}"] = torch.zeros(mmcls[bad].shape[0] + 1)
    model = torch.nn.ModuleDict({"backbone": factory()})
    assert load_weights(model, {"state_dict": checkpoint}) == ([f"backbone.{ours[bad]}"], [])
    loaded = {k: v for k, v in model.backbone.state_dict().items() if k != ours[bad]}
    torch.testing.assert_close(loaded, {k: v for k, v in source.state_dict().items() if k != ours[bad]})


@parametrize_families
def test_our_own_names_pass_unchanged_so_renaming_twice_is_harmless(family):
    _, source, mmcls = _forge(family)
    own = list(source.state_dict())
    converted = source.convert_mmcls_state_dict(mmcls)
    assert list(converted) == own
    assert list(source.convert_mmcls_state_dict(converted)) == own
    prefixed = {**{f"backbone.{k}": v for k, v in mmcls.items()}, "head.fc.weight": torch.zeros(1)}
    assert list(source.convert_mmcls_state_dict(prefixed, "backbone.")) == [f"backbone.{k}" for k in own] + [
        "head.fc.weight"]
