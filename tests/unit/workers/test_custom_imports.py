"""``custom_imports`` (seed 4.5) on a user's machine: the CLI imports the modules a spec names when they are on
the allowlist (``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST`` or ``--allow-import``), and a test plugin package's hook,
transform and backbone then train a tiny run through the spec alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import jobspecs
from jobspecs.loader import ALLOWLIST_ENV
from tests.support.specs import tiny_spec
from workers.cli import main
from workers.custom_imports import CustomImportError, import_custom_modules

REPO = Path(__file__).resolve().parents[3]
PLUGIN = "tests.support.plugin"


def _plugin_spec(tmp_path: Path) -> Path:
    spec = tiny_spec(max_epochs=2, custom_imports={"imports": [PLUGIN], "allow_failed_imports": False})
    spec["model"]["backbone"] = {"type": "PluginTinyNet", "channels": 8}
    spec["model"]["head"]["in_channels"] = 8
    spec["data"]["train"]["pipeline"].insert(1, {"type": "PluginShift", "value": 20})
    spec["custom_hooks"] = [{"type": "PluginRecordHook", "out_file": str(tmp_path / "plugin.jsonl")}]
    path = tmp_path / "plugin_spec.py"
    path.write_text(jobspecs.dumps(spec))
    return path


def test_the_cli_trains_with_a_plugins_hook_transform_and_backbone_named_by_the_spec_alone(tmp_path, tiny_root):
    spec = _plugin_spec(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != ALLOWLIST_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", "train", str(spec), "--work-dir", str(tmp_path / "work"),
         "--data-root", str(tiny_root), "--no-validate", "--allow-import", PLUGIN],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "plugin.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["iter"]) for r in records] == [(0, 3), (1, 6)]  # 12 images, batches of 4; epoch as mmcv's runner.epoch
    assert records[-1]["shifted"] == 24  # every training image of both epochs went through PluginShift
    weights = torch.load(tmp_path / "work" / "epoch_2.pth", weights_only=True)["state_dict"]
    assert weights["backbone.plugin_conv.weight"].shape == (8, 3, 3, 3)


def test_the_cli_refuses_a_module_the_user_did_not_allow(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ALLOWLIST_ENV, raising=False)
    spec = _plugin_spec(tmp_path)
    assert main(["print-config", str(spec)]) == 2
    error = capsys.readouterr().err
    assert f"custom import '{PLUGIN}' is not on this server's allowlist" in error
    assert f"an admin can list modules in {ALLOWLIST_ENV}" in error
    assert "allow a module with --allow-import MODULE" in error


def test_the_cli_takes_the_allowlist_from_the_environment_too(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ALLOWLIST_ENV, "tests.support.*")
    assert main(["print-config", str(_plugin_spec(tmp_path))]) == 0
    assert "PluginTinyNet" in capsys.readouterr().out


def test_a_missing_module_fails_unless_allow_failed_imports():
    spec = {"custom_imports": {"imports": ["tests.support.no_such_plugin"], "allow_failed_imports": False}}
    with pytest.raises(CustomImportError, match="custom import 'tests.support.no_such_plugin' failed: No module"):
        import_custom_modules(spec, ["tests.support.*"])
    spec["custom_imports"]["allow_failed_imports"] = True
    with pytest.warns(UserWarning, match="tests.support.no_such_plugin failed to import and is ignored"):
        assert import_custom_modules(spec, ["tests.support.*"]) == []
