"""Registries: did-you-mean errors, wildcard listing, and the submit-time type check of a spec."""

from __future__ import annotations

import pytest

from tests.support.specs import demo_spec
from workers.registry import (
    MODELS,
    OPTIMIZERS,
    Registry,
    TypeIssue,
    UnknownTypeError,
    check_spec_types,
    ensure_registered,
)


def test_it_suggests_close_names_for_an_unknown_type():
    registry = Registry("model")
    for name in ("ResNet", "ResNeSt", "VGG"):
        registry.add(name, object())
    with pytest.raises(KeyError) as info:
        registry.get("ResNt")
    assert str(info.value) == "Unknown model type 'ResNt'. Did you mean: ResNet, ResNeSt?"
    assert info.value.suggestions == ["ResNet", "ResNeSt"]


def test_it_says_only_unknown_when_nothing_is_close():
    registry = Registry("dataset")
    registry.add("CustomDataset", object())
    with pytest.raises(UnknownTypeError, match=r"^Unknown dataset type 'Zebra'\.$"):
        registry.get("Zebra")


def test_it_lists_names_with_wildcards_and_knows_membership():
    ensure_registered()  # the registries fill when workers.models / .data / .engine are imported
    assert MODELS.list("ResNet*") == ["ResNet", "ResNetV1C", "ResNetV1D", "ResNetV1c", "ResNetV1d", "ResNet_CIFAR"]
    assert "LinearClsHead" in MODELS and "LinearHead" not in MODELS
    assert {"SGD", "AdamW", "RMSprop"} <= set(OPTIMIZERS.list())


def test_it_registers_with_the_decorator_and_refuses_a_second_class_under_one_name():
    registry = Registry("hook")

    @registry.register()
    class Mine:
        pass

    @registry.register("Alias")
    def make():
        return 1

    assert registry.get("Mine") is Mine and registry.get("Alias") is make
    with pytest.raises(KeyError, match="already registered"):
        registry.add("Mine", object())


def test_it_accepts_the_demo_spec():
    assert check_spec_types(demo_spec()) == []


def test_it_finds_every_misspelt_type_with_its_path():
    spec = demo_spec()
    spec["model"]["backbone"]["type"] = "ResNt"
    spec["model"]["head"]["loss"]["type"] = "CrossEntropy"
    spec["data"]["train"]["pipeline"][1]["type"] = "Resise"
    spec["data"]["val"]["type"] = "CustomDatset"
    spec["optimizer"]["type"] = "SDG"
    spec["lr_config"]["policy"] = "cosine"
    spec["custom_hooks"] = [{"type": "EmptyCacheHok"}]

    issues = check_spec_types(spec)

    assert [(i.path, i.name, i.kind) for i in issues] == [
        (("model", "backbone", "type"), "ResNt", "model"),
        (("model", "head", "loss", "type"), "CrossEntropy", "model"),
        (("data", "train", "pipeline", 1, "type"), "Resise", "transform"),
        (("data", "val", "type"), "CustomDatset", "dataset"),
        (("optimizer", "type"), "SDG", "optimizer"),
        (("lr_config", "policy"), "cosine", "lr schedule"),
        (("custom_hooks", 0, "type"), "EmptyCacheHok", "hook"),
    ]
    assert issues[0].suggestions[0] == "ResNet"
    assert issues[2].message == "data.train.pipeline.1.type: unknown transform type 'Resise'. Did you mean: Resize?"
    assert "SGD" in issues[4].suggestions
    assert isinstance(issues[0], TypeIssue)


def test_it_accepts_mmcv_lower_case_policies_and_checks_cfg_subregistries():
    spec = demo_spec(lr_config={"policy": "step", "step": [1]})
    spec["model"]["backbone"]["norm_cfg"] = {"type": "BM"}
    spec["model"]["backbone"]["init_cfg"] = {"type": "Pretrained", "checkpoint": "x.pth"}

    issues = check_spec_types(spec)

    assert [(i.path, i.kind, i.suggestions) for i in issues] == [
        (("model", "backbone", "norm_cfg", "type"), "norm layer", ["BN"])]


def test_it_accepts_the_library_demo_spec():
    jobspecs = pytest.importorskip("jobspecs")
    spec = jobspecs.load_library("demo/resnet18-tiny_2xb32-6e_digits.py")
    assert check_spec_types(spec) == []


def test_it_finds_a_misspelt_op_inside_an_autoaugment_policy():
    from workers.registry import check_spec_types

    spec = {"data": {"train": {"type": "CustomDataset", "pipeline": [
        {"type": "AutoAugment", "policies": [[{"type": "Solarise", "thr": 128}], [{"type": "Equalize"}]]},
    ]}}}
    issues = check_spec_types(spec)
    assert [(i.path, i.name) for i in issues] == [(("data", "train", "pipeline", 0, "policies", 0, 0, "type"), "Solarise")]
    assert issues[0].suggestions[:2] == ["Solarize", "SolarizeAdd"]


def test_the_backbone_names_read_from_the_source_are_exactly_what_importing_every_family_registers():
    """``workers.models.backbones`` registers its names without importing the families (add_lazy), by reading
    their source: importing every family registers no backbone name the scan missed, and every scanned name
    resolves to the class its own module registers under it."""
    from pathlib import Path

    from workers.models import backbones

    folder = Path(backbones.__file__).parent
    scanned = {name: module for module in backbones.family_modules()
               for name in backbones.registered_names((folder / f"{module}.py").read_text(encoding="utf-8"))}
    assert len(scanned) > 40
    backbones.import_all()
    registered = {name for name in MODELS
                  if getattr(MODELS.get(name), "__module__", "").startswith(backbones.__name__ + ".")}
    assert registered == set(scanned), registered ^ set(scanned)
    assert all(MODELS.get(name).__module__ == f"{backbones.__name__}.{module}" for name, module in scanned.items())


def test_a_run_of_a_resnet_loads_neither_timm_nor_torchvision():
    """A family loads when a spec builds it: a process that builds and trains the demo's ResNet imports no timm
    and no torchvision (their import costs every run's worker seconds of CPU); building a Swin loads timm."""
    import subprocess
    import sys

    code = ("import sys, jobspecs; from workers.engine import train; from workers.models import build_model; "
            "spec = jobspecs.load('jobspecs/library/demo/resnet18-tiny_2xb32-6e_digits.py'); "
            "build_model(spec['model']); from workers.data.datasets.imagenet import ImageNet; "
            "assert len(ImageNet.CLASSES) == 1000 and ImageNet.CLASSES[0] == 'tench'; "
            "print(sorted(m for m in ('timm', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]"], out
    from workers.models import build_model  # and a family that builds on timm loads it when a spec builds one

    build_model({"type": "SwinTransformer", "arch": "tiny", "img_size": 32})
    assert "timm.models.swin_transformer" in sys.modules


def test_a_lazy_name_is_taken_like_a_registered_one():
    """A family not imported yet still owns its name: another class registering it is refused as before (a plugin
    cannot shadow a library backbone by importing first); the family's own module registers it on first use."""
    registry = Registry("model")
    registry.add_lazy("ResNet", "workers.models.backbones.resnet:ResNet")

    class ResNet:  # a plugin's class of the same name, from another module
        pass

    with pytest.raises(KeyError, match="already registered"):
        registry.add("ResNet", ResNet)
    assert "ResNet" in registry and registry.list("resn*") == ["ResNet"]
    from workers.models.backbones.resnet import ResNet as LibraryResNet

    assert registry.get("ResNet") is LibraryResNet
