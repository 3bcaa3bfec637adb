"""Attack: a spec that makes the service import code (``custom_imports``, seed 4.5). The trust boundary
(DESIGN.md): a submitted spec imports only modules the operator installed and listed in
``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST`` (the setting, never the request or the web process's environment),
and a worker given such a spec all the same (a job the service did not write) refuses it before importing.

The attacker's module lies on ``sys.path`` (standing in for any importable module: ``os``, an installed
package's ``__init__``) and writes a probe file when imported: the probe must never appear.
"""
from __future__ import annotations

import sys

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from backend.accounts.models import ApiToken, Membership, Role, Team
from backend.experiments.models import Dataset, Run
from jobspecs.loader import ALLOWLIST_ENV
from tests.support.specs import tiny_spec
from workers.custom_imports import CustomImportError
from workers.engine import train

DEMO = "_base_ = ['../demo/resnet18-tiny_2xb32-6e_digits.py']\n"
PROBE_MODULE = "trainyard_probe_pkg"


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A package ``trainyard_probe_pkg`` (with a submodule ``safe``) on sys.path whose import writes ``probe``."""
    package = tmp_path / "site" / PROBE_MODULE
    package.mkdir(parents=True)
    marker = tmp_path / "probe"
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    (package / "safe.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield marker
    for name in [m for m in sys.modules if m.startswith(PROBE_MODULE)]:
        del sys.modules[name]


@pytest.fixture
def attacker(db, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path / "storage"
    settings.TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST = ["tests.support.plugin", f"{PROBE_MODULE}.safe"]
    team = Team.objects.create(name="Intruders", slug="intruders")
    user = get_user_model().objects.create_user("mallory")
    Membership.objects.create(user=user, team=team, role=Role.MEMBER)
    Dataset.objects.create(team=team, name="digits", path="datasets/intruders/digits")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user, 't')[1]}")
    client.user, client.team = user, team
    return client


def _submit(client, text: str, **kw):
    return client.post("/api/runs", {"spec_text": DEMO + text, "dataset": "digits", **kw}, format="json")


@pytest.mark.parametrize("module", [PROBE_MODULE, "os", f"{PROBE_MODULE}_evil", "tests.support"])
def test_it_refuses_a_module_off_the_operators_allowlist_and_imports_nothing(attacker, probe, module):
    r = _submit(attacker, f"custom_imports = dict(imports=['{module}'], allow_failed_imports=False)")
    assert r.status_code == 400, r.content
    error = r.json()["errors"][0]
    assert (error["message"], str(error["line"])) == (f"custom import {module!r} is not on this server's allowlist", "2")
    assert error["hint"] == f"allowed here: tests.support.plugin, {PROBE_MODULE}.safe"
    assert not probe.exists() and PROBE_MODULE not in sys.modules
    assert not Run.objects.exists()


def test_it_refuses_an_import_added_through_cfg_options(attacker, probe):
    r = _submit(attacker, "", cfg_options=[f"custom_imports.imports=[{PROBE_MODULE}]"])
    assert r.status_code == 400, r.content
    assert r.json()["errors"][0]["message"] == f"custom import {PROBE_MODULE!r} is not on this server's allowlist"
    assert not probe.exists() and not Run.objects.exists()


def test_the_web_processs_environment_does_not_widen_the_setting(attacker, probe, monkeypatch):
    monkeypatch.setenv(ALLOWLIST_ENV, PROBE_MODULE)
    r = _submit(attacker, f"custom_imports = dict(imports=['{PROBE_MODULE}'])")
    assert r.status_code == 400, r.content
    assert not probe.exists() and not Run.objects.exists()


def test_it_accepts_an_allowlisted_plugin_and_knows_the_types_it_registers(attacker):
    r = _submit(attacker, "custom_imports = dict(imports=['tests.support.plugin'], allow_failed_imports=False)\n"
                          "model = dict(backbone=dict(_delete_=True, type='PluginTinyNet', channels=8), "
                          "head=dict(in_channels=8))")
    assert r.status_code == 201, r.content
    assert Run.objects.get().resolved_spec["model"]["backbone"]["type"] == "PluginTinyNet"
    r = _submit(attacker, "model = dict(backbone=dict(_delete_=True, type='PluginTinyNett'))")
    assert r.status_code == 400 and "unknown model type 'PluginTinyNett'" in r.json()["errors"][0]["message"]


def test_a_runs_job_gets_the_operators_allowlist_in_its_environment(attacker):
    from backend.experiments.jobfiles import run_environment

    run = Run.objects.create(team=attacker.team, created_by=attacker.user, dataset=Dataset.objects.get(),
                             name="r", spec_text="x = 1", resolved_spec={}, spec_hash="0" * 64, resources={})
    env = run_environment(run, "token")
    assert env[ALLOWLIST_ENV] == f"tests.support.plugin,{PROBE_MODULE}.safe"


def test_a_worker_refuses_a_module_off_its_allowlist_without_the_submit_check(probe, monkeypatch, tmp_path, tiny_root):
    monkeypatch.setenv(ALLOWLIST_ENV, "tests.support.plugin")  # what the job's environment carries
    spec = tiny_spec(custom_imports={"imports": [PROBE_MODULE], "allow_failed_imports": True})
    with pytest.raises(CustomImportError, match=f"custom import '{PROBE_MODULE}' is not on the allowlist; "
                                                "allowed here: tests.support.plugin"):
        train(spec, tmp_path / "work", data_root=tiny_root, console=False)
    assert not probe.exists() and PROBE_MODULE not in sys.modules
    assert not (tmp_path / "work").exists()


@pytest.fixture
def tiny_root(tmp_path):
    from tests.support.datasets import write_images

    for name in "abc":
        write_images(tmp_path / "data" / "tiny" / "train" / name, 1, size=16, value=40)
    return tmp_path / "data"
