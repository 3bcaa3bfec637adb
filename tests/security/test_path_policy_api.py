"""A second team's member attacks the first team's data through path fields of a spec (issue 13, item 1):
reading files, writing into another team's runs, loading another team's checkpoints. Refused at submit, with
file:line:col, nothing stored."""
import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from backend.accounts.models import ApiToken, Membership, Role, Team
from backend.experiments import lifecycle
from backend.experiments.models import Checkpoint, Dataset, Run, Sweep

DEMO = "_base_ = ['../demo/resnet18-tiny_2xb32-6e_digits.py']\n"


def _member(username: str, team: Team, role=Role.MEMBER) -> APIClient:
    user = get_user_model().objects.create_user(username)
    Membership.objects.create(user=user, team=team, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user, 't')[1]}")
    client.user = user
    return client


@pytest.fixture
def world(db, settings, tmp_path):
    """The victim team with a run and a stored checkpoint; the attacker's team with a dataset of its own."""
    settings.TRAINYARD_STORAGE = tmp_path
    victim_team = Team.objects.create(name="Victims", slug="victims")
    attacker_team = Team.objects.create(name="Intruders", slug="intruders")
    victim, attacker = _member("vera", victim_team), _member("mallory", attacker_team)
    ds = Dataset.objects.create(team=victim_team, name="digits", path="datasets/victims/digits")
    Dataset.objects.create(team=attacker_team, name="digits", path="datasets/intruders/digits")
    run = Run.objects.create(team=victim_team, created_by=victim.user, dataset=ds, name="secret model",
                             spec_text="x = 1", resolved_spec={}, spec_hash="0" * 64, resources={}, status="succeeded")
    path = f"runs/{run.pk}/work/epoch_1.pth"
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_bytes(b"weights")
    ckpt = Checkpoint.objects.create(run=run, path=path, epoch=1, iteration=10)
    return type("World", (), {"victim": victim, "attacker": attacker, "run": run, "ckpt": ckpt, "storage": tmp_path})


def _submit(client, text: str, **kw):
    return client.post("/api/runs", {"spec_text": DEMO + text, "dataset": "digits", **kw}, format="json")


@pytest.mark.parametrize("line, message", [
    ("data = dict(train=dict(ann_file='/etc/passwd'))", "data.train.ann_file '/etc/passwd' is an absolute path"),
    ("data = dict(train=dict(classes='~/.ray/auth_token'))", "data.train.classes '~/.ray/auth_token' starts with '~'"),
    ("data = dict(val=dict(data_prefix='data/digits/../../../../runs'))", "data.val.data_prefix"),
    ("checkpoint_config = dict(out_dir='../../runs/{run}/work')", "checkpoint_config.out_dir"),
    ("log_config = dict(hooks=[dict(type='TensorboardLoggerHook', log_dir='/srv/www')])", "log_config.hooks.0.log_dir"),
    ("load_from = '{storage}/runs/{run}/work/epoch_1.pth'", "a run reads only checkpoints the service resolves"),
    ("resume_from = '../{run}/work/epoch_1.pth'", "load_from='checkpoint:123'"),
])
def test_it_refuses_a_path_out_of_its_area_at_its_line_and_stores_nothing(world, line, message):
    r = _submit(world.attacker, "\n" + line.format(run=world.run.pk, storage=world.storage))
    assert r.status_code == 400, r.content
    body = r.json()
    text = json.dumps(body)
    assert message.split(" ")[0] in text and (message in text or message.startswith("load_from"))
    problem = next(e for e in body["errors"] if str(e.get("line")) == "3")
    assert problem["file"] == "<spec>" and int(problem["column"]) >= 1
    assert Run.objects.filter(team__slug="intruders").count() == 0


def test_it_answers_another_teams_checkpoint_as_if_it_did_not_exist(world):
    theirs = _submit(world.attacker, f"load_from = 'checkpoint:{world.ckpt.pk}'")
    nowhere = _submit(world.attacker, "load_from = 'checkpoint:999999'")
    assert theirs.status_code == nowhere.status_code == 400
    assert theirs.json()["errors"][0]["message"].replace(str(world.ckpt.pk), "N") == \
        nowhere.json()["errors"][0]["message"].replace("999999", "N")
    assert "secret model" not in theirs.content.decode()
    assert Run.objects.filter(team__slug="intruders").count() == 0


def test_it_refuses_another_teams_checkpoint_given_by_its_storage_key_too(world):
    r = _submit(world.attacker, "", cfg_options={"load_from": world.ckpt.path})
    assert r.status_code == 400
    assert r.json()["errors"][0]["file"] == "<cfg_options>"


def test_it_lets_a_team_start_from_its_own_checkpoint_by_id_and_puts_its_key_in_the_job(world, monkeypatch):
    submitted = []
    monkeypatch.setattr(lifecycle.ray_jobs, "submit", lambda *a: submitted.append(a) or True)
    r = _submit(world.victim, f"load_from = 'checkpoint:{world.ckpt.pk}'")
    assert r.status_code == 201, r.content
    run = Run.objects.get(pk=r.json()["id"])
    assert run.resolved_spec["load_from"] == f"checkpoint:{world.ckpt.pk}"
    lifecycle.dispatch(Run, str(run.pk))
    job = json.loads((world.storage / "runs" / str(run.pk) / "job.json").read_text())
    assert job["checkpoints"] == {f"checkpoint:{world.ckpt.pk}": world.ckpt.path}


def test_it_turns_a_storage_key_of_its_own_checkpoint_into_its_id(world):
    r = _submit(world.victim, f"load_from = '{world.ckpt.path}'")
    assert r.status_code == 201, r.content
    assert Run.objects.get(pk=r.json()["id"]).resolved_spec["load_from"] == f"checkpoint:{world.ckpt.pk}"


def test_it_refuses_a_checkpoint_rotated_out_of_the_storage(world):
    (world.storage / world.ckpt.path).unlink()
    r = _submit(world.victim, f"load_from = 'checkpoint:{world.ckpt.pk}'")
    assert r.status_code == 400 and "is no longer on the storage" in r.json()["detail"]


def test_it_refuses_a_sweep_whose_space_reaches_another_teams_checkpoint_or_a_file(world):
    sweep = {"space": {"load_from": {"type": "choice", "values": [f"checkpoint:{world.ckpt.pk}", "/etc/passwd"]}},
             "metric": "accuracy_top-1", "mode": "max"}
    r = world.attacker.post("/api/sweeps", {"spec_text": DEMO, "dataset": "digits", "sweep": sweep}, format="json")
    assert r.status_code == 400, r.content
    messages = " ".join(e["message"] for e in r.json()["errors"])
    assert "is not a checkpoint of a run you can read" in messages and "'/etc/passwd'" in messages
    assert not Sweep.objects.filter(team__slug="intruders").exists()
