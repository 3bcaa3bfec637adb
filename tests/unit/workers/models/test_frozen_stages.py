"""Stage freezing and ``norm_eval`` of every backbone family that takes them, value by value.

For each ``frozen_stages`` in a family's range the test writes down, from MMCls 0.25's rule for that
family, which submodules (and loose parameters such as a class token) are frozen, then checks that
exactly their parameters have ``requires_grad=False`` after building, and that exactly those modules
(plus every BatchNorm with ``norm_eval``) are in eval mode after ``.eval().train()``.
"""

from __future__ import annotations

import pytest
from torch.nn.modules.batchnorm import _BatchNorm

from workers.models.backbones import (
    conformer,
    convmixer,
    convnext,
    cspnet,
    densenet,
    efficientformer,
    efficientnet,
    hornet,
    hrnet,
    mobilenet_v2,
    mobilenet_v3,
    poolformer,
    regnet,
    repvgg,
    res2net,
    resnest,
    resnet,
    shufflenet_v1,
    shufflenet_v2,
    swin_transformer,
    swin_transformer_v2,
    van,
    vgg,
)


def _first(n: int, names) -> list[str]:
    """Names of stages ``0..n-1`` (none for ``n <= 0``)."""
    return [names(i) for i in range(max(n, 0))]


def _stem(fs: int, names: list[str], since: int = 0) -> list[str]:
    return names if fs >= since else []


def _resnet_like(stem: list[str]):
    return lambda fs, m: _stem(fs, stem) + _first(fs, lambda i: f"layer{i + 1}")


def _vgg(fs, m):
    stages = [[0, 1], [2, 3], [4, 5, 6]]  # VGG-11's first three stages: 1, 1 and 2 convs, each then a pool
    return [f"features.{j}" for i in range(max(fs, 0)) for j in stages[i]]


def _conformer(fs, m):
    if fs <= 0:
        return []
    stem = ["conv1", "bn1", "conv_1", "trans_patch_conv", "trans_1"] + (["cls_token"] if m.with_cls_token else [])
    return stem + [f"conv_trans_{i}" for i in range(2, min(fs, 3) + 1)]


def _with_norms(fs, m, modules, inclusive=False):
    count = fs + 1 if inclusive else fs
    return [name for i in range(max(count, 0)) for name in modules(i) + ([f"norm{i}"] if i in m.out_indices else [])]


def _densenet(fs, m):
    # the last "transition" (final BN + ReLU) holds the backbone's own ``act``, which named_modules lists at the top
    return [n for i in range(max(fs, 0)) for n in (f"stages.{i}", f"transitions.{i}")] + (["act"] if fs >= 4 else [])


def _poolformer(fs, m):
    network = ["stages.0.blocks"] + [f"stages.{k}.{part}" for k in (1, 2, 3) for part in ("downsample", "blocks")]
    return _stem(fs, ["stem"], since=1) + network[:max(fs, 0)] + [f"norm{i}" for i in range(fs) if i in m.out_indices]


def _swin(fs, m):
    stem = ["patch_embed"] + (["absolute_pos_embed"] if m.use_abs_pos_embed else [])
    merge = {0: ["layers.1.downsample"], 1: []}  # V1 merges patches at the end of a stage
    return _stem(fs, stem) + _with_norms(fs, m, lambda i: [f"layers.{i}"] + merge[i])


def _swin_v2(fs, m):
    # MMCls V2 freezes stages 0..frozen_stages (past the last: all of them) and not absolute_pos_embed
    return _stem(fs, ["patch_embed"]) + _with_norms(min(fs, 1), m, lambda i: [f"layers.{i}"], inclusive=True)


# family: (builder, kwargs, frozen_stages values, expected frozen names, norm_eval accepted)
FAMILIES = {
    "resnet": (resnet.resnet_tiny, {}, range(-1, 5), _resnet_like(["conv1", "bn1"]), True),
    "resnet_v1c": (resnet.resnet_tiny, {"deep_stem": True}, range(-1, 5), _resnet_like(["stem"]), True),
    "res2net": (res2net.res2net_tiny, {}, range(-1, 5), _resnet_like(["stem"]), True),
    "resnest": (resnest.resnest_tiny, {}, range(-1, 5), _resnet_like(["stem"]), True),
    "regnet": (regnet.regnet_tiny, {}, range(-1, 5), _resnet_like(["conv1", "bn1"]), True),
    "mobilenet_v2": (mobilenet_v2.mobilenet_v2_tiny, {}, range(-1, 8), _resnet_like(["conv1"]), True),
    "mobilenet_v3": (mobilenet_v3.mobilenet_v3_tiny, {}, range(-1, 5),
                     lambda fs, m: _first(fs + 1, lambda i: f"layer{i}"), True),
    "shufflenet_v1": (shufflenet_v1.shufflenet_v1_tiny, {}, range(-1, 3),
                      lambda fs, m: _stem(fs, ["conv1"]) + _first(fs, lambda i: f"layers.{i}"), True),
    "shufflenet_v2": (shufflenet_v2.shufflenet_v2_tiny, {}, range(-1, 4),
                      lambda fs, m: _stem(fs, ["conv1"]) + _first(fs, lambda i: f"layers.{i}"), True),
    "repvgg": (repvgg.repvgg_tiny, {}, range(-1, 5),
               lambda fs, m: _stem(fs, ["stem"]) + _first(fs, lambda i: f"stage_{i + 1}"), True),
    "repvgg_deploy": (repvgg.repvgg_tiny, {"deploy": True}, range(-1, 5),
                      lambda fs, m: _stem(fs, ["stem"]) + _first(fs, lambda i: f"stage_{i + 1}"), True),
    "cspnet": (cspnet.cspdarknet_tiny, {}, range(-1, 2),
               lambda fs, m: _stem(fs, ["stem"]) + _first(fs + 1, lambda i: f"stages.{i}"), True),
    "vgg": (vgg.vgg_tiny, {"norm_cfg": {"type": "BN"}}, range(-1, 4), _vgg, True),
    "conformer": (conformer.conformer_tiny_test, {}, range(-1, 5), _conformer, False),
    "conformer_no_cls": (conformer.conformer_tiny_test, {"with_cls_token": False}, range(-1, 3), _conformer, False),
    "convmixer": (convmixer.convmixer_tiny_test, {}, range(-1, 4),
                  lambda fs, m: _first(fs, lambda i: f"stages.{i}"), False),
    "convnext": (convnext.convnext_tiny_test, {}, range(-1, 5),
                 lambda fs, m: _stem(fs, ["stem"], since=1) + _first(fs, lambda i: f"stages.{i}"), False),
    "densenet": (densenet.densenet_tiny, {}, range(-1, 5), _densenet, False),
    "efficientformer": (efficientformer.efficientformer_tiny_test, {"out_indices": (0, 2, 3)}, range(-1, 5),
                        lambda fs, m: _stem(fs, ["stem"]) + _with_norms(fs, m, lambda i: [f"stages.{i}"]), False),
    "efficientnet": (efficientnet.efficientnet_tiny, {}, range(0, 8),
                     lambda fs, m: _first(fs, lambda i: f"layers.{i}"), True),
    "hornet": (hornet.hornet_tiny_test, {"out_indices": (0, 1, 3)}, range(-1, 4),
               lambda fs, m: _with_norms(fs, m, lambda i: [f"downsample_layers.{i}", f"stages.{i}"], inclusive=True),
               False),
    "poolformer": (poolformer.poolformer_tiny_test, {"out_indices": (0, 2, 4, 6)}, range(-1, 9), _poolformer, False),
    "swin": (swin_transformer.swin_tiny_test, {}, range(-1, 3), _swin, True),
    "swin_abs_pos": (swin_transformer.swin_tiny_test, {"use_abs_pos_embed": True, "out_indices": (1,)}, range(-1, 3),
                     _swin, True),
    "swin_v2": (swin_transformer_v2.swin_v2_tiny_test, {"use_abs_pos_embed": True}, range(-1, 4), _swin_v2, True),
    "van": (van.van_tiny_test, {"norm_cfg": {"type": "BN"}}, range(-1, 4),
            lambda fs, m: [f"{part}{i + 1}" for i in range(fs + 1) for part in ("patch_embed", "blocks", "norm")],
            True),
}

CASES = [(family, fs) for family, spec in FAMILIES.items() for fs in spec[2]]


def _under(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _check(model, frozen: list[str], norm_eval: bool) -> None:
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    assert all(name in modules or name in params for name in frozen), f"unknown names in {frozen}"
    expected_frozen = {name for name in params if _under(name, frozen)}
    assert {name for name, p in params.items() if not p.requires_grad} == expected_frozen

    model.eval().train()
    module_prefixes = [name for name in frozen if name in modules]
    expected_eval = {name for name, m in modules.items() if name and _under(name, module_prefixes)}
    if norm_eval:
        norms = [name for name, m in modules.items() if isinstance(m, _BatchNorm)]
        expected_eval |= {name for name in modules if _under(name, norms)}  # timm's BatchNormAct holds its act
    assert {name for name, m in modules.items() if not m.training} == expected_eval
    assert {name for name, p in params.items() if not p.requires_grad} == expected_frozen

    model.train(False)
    assert not any(m.training for m in modules.values())


@pytest.mark.parametrize(("family", "frozen_stages"), CASES)
def test_it_freezes_exactly_the_stages_mmcls_freezes(family, frozen_stages):
    build, kwargs, _, expected, _ = FAMILIES[family]
    model = build(frozen_stages=frozen_stages, **kwargs)
    _check(model, expected(frozen_stages, model), norm_eval=False)


@pytest.mark.parametrize("family", [family for family, spec in FAMILIES.items() if spec[4]])
def test_it_keeps_every_batchnorm_in_eval_mode_with_norm_eval(family):
    build, kwargs, values, expected, _ = FAMILIES[family]
    frozen_stages = values[len(values) // 2]
    model = build(frozen_stages=frozen_stages, norm_eval=True, **kwargs)
    if family not in ("swin", "swin_abs_pos", "swin_v2", "repvgg_deploy"):  # LayerNorms only; BNs fused away
        assert any(isinstance(m, _BatchNorm) for m in model.modules())
    _check(model, expected(frozen_stages, model), norm_eval=True)


def test_it_keeps_batchnorms_training_in_conformer_whatever_norm_eval_says():
    # MMCls 0.25's Conformer takes norm_eval (default True) but never applies it
    model = conformer.conformer_tiny_test(frozen_stages=1, norm_eval=True)
    _check(model, _conformer(1, model), norm_eval=False)


def test_it_keeps_hrnet_batchnorms_in_eval_mode_with_norm_eval():
    model = hrnet.hrnet_tiny(norm_eval=True)
    _check(model, [], norm_eval=True)
    _check(hrnet.hrnet_tiny(), [], norm_eval=False)


def test_it_refreezes_repvgg_stages_after_switching_to_deploy():
    model = repvgg.repvgg_tiny(frozen_stages=2)
    model.switch_to_deploy()
    _check(model, ["stem", "stage_1", "stage_2"], norm_eval=False)


@pytest.mark.parametrize(("build", "frozen_stages", "error"), [
    (resnet.resnet_tiny, 5, AttributeError),
    (vgg.vgg_tiny, 4, IndexError),
    (convnext.convnext_tiny_test, 5, IndexError),
    (van.van_tiny_test, 4, AttributeError),
    (swin_transformer.swin_tiny_test, 3, IndexError),
    (mobilenet_v2.mobilenet_v2_tiny, 8, ValueError),
    (cspnet.cspdarknet_tiny, 2, ValueError),
])
def test_it_refuses_more_frozen_stages_than_the_backbone_has(build, frozen_stages, error):
    with pytest.raises(error):
        build(frozen_stages=frozen_stages)
