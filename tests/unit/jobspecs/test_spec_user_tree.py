"""A user's own config tree in MMCls's layout (``configs/_base_/...`` beside ``configs/<family>/x.py``, inheriting
with ``'../_base_/...'``) loads with ``load_user_config``, the CLI's loader, while ``load`` keeps its root."""

from __future__ import annotations

import pytest

from jobspecs import SpecError, load, load_user_config
from jobspecs.loader import config_tree
from tests.support.spec_source import spec_error
from workers.cli import main

MODEL = """
model = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18),
             neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=10, in_channels=512))
"""
CHILD = """
_base_ = ['../_base_/models/resnet18.py', '../_base_/default_runtime.py']
model = dict(head=dict(num_classes=3))
"""


@pytest.fixture
def tree(tmp_path):
    """``configs/_base_/models/resnet18.py``, ``configs/_base_/default_runtime.py``, ``configs/resnet/mine.py``."""
    configs = tmp_path / "project" / "configs"
    (configs / "_base_" / "models").mkdir(parents=True)
    (configs / "resnet").mkdir()
    (configs / "_base_" / "models" / "resnet18.py").write_text(MODEL)
    (configs / "_base_" / "default_runtime.py").write_text("log_level = 'INFO'\nlog_config = dict(interval=10)\n")
    (configs / "resnet" / "mine.py").write_text(CHILD)
    return configs


def test_it_resolves_bases_beside_the_family_folder_as_mmcls_does(tree):
    spec, positions = load_user_config(tree / "resnet" / "mine.py", ["log_config.interval=5"], positions=True)
    assert spec["model"]["head"]["num_classes"] == 3 and spec["model"]["backbone"]["depth"] == 18
    assert spec["log_level"] == "INFO" and spec["log_config"]["interval"] == 5
    assert positions[("model", "backbone", "depth")][0] == "_base_/models/resnet18.py"  # named in the tree
    assert positions[("model", "head", "num_classes")][0] == "resnet/mine.py"
    assert config_tree(tree / "resnet" / "mine.py") == tree.resolve()


def test_load_keeps_its_root_at_the_spec_folder(tree):
    error = spec_error(load, tree / "resnet" / "mine.py")
    assert error.message == "_base_ path '../_base_/models/resnet18.py' leads outside the spec library"


def test_it_names_a_broken_base_by_its_place_in_the_tree(tree):
    (tree / "_base_" / "models" / "resnet18.py").write_text("model = dict(type='ImageClassifier',\n")
    with pytest.raises(SpecError) as caught:
        load_user_config(tree / "resnet" / "mine.py")
    assert caught.value.filename == "_base_/models/resnet18.py"
    (tree / "resnet" / "typo.py").write_text("_base_ = '../_base_/models/resnet_18.py'\n")
    assert spec_error(load_user_config, tree / "resnet" / "typo.py").hint == (
        "did you mean '../_base_/models/resnet18.py'?")


def test_the_cli_prints_the_config_of_a_users_tree(tree, capsys):
    assert main(["print-config", str(tree / "resnet" / "mine.py"), "--format", "json"]) == 0
    assert '"num_classes": 3' in capsys.readouterr().out
