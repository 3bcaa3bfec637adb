"""POST /api/runs: accepted specs are stored and queued once; rejected ones store nothing."""
import pytest

from backend.experiments.models import Run, RunStatus
from tests.support.cast import DEMO_SPEC


def _post(cast, payload, who="member", capture=None):
    return cast.clients[who].post("/api/runs", payload, format="json")


def test_it_queues_a_library_spec_and_dispatches_after_commit(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        r = _post(cast, {"spec_name": DEMO_SPEC, "dataset": "digits", "cfg_options": {"runner.max_epochs": 2}})
    assert r.status_code == 201, r.content
    run = Run.objects.get(pk=r.json()["id"])
    assert run.status == RunStatus.QUEUED
    assert run.resolved_spec["runner"]["max_epochs"] == 2
    assert run.resources["num_workers"] == 2 and run.resources["strategy"] == "ddp"
    assert run.team == cast.team and run.created_by == cast.users["member"]
    assert len(run.spec_hash) == 64
    assert len(callbacks) == 1  # exactly one dispatch is queued


def test_it_accepts_cfg_options_as_command_line_strings(cast):
    r = _post(cast, {"spec_name": DEMO_SPEC, "dataset": "digits",
                     "cfg_options": ["optimizer.lr=0.05", "data.train.pipeline.2.padding=1"]})
    assert r.status_code == 201, r.content
    spec = Run.objects.get().resolved_spec
    assert spec["optimizer"]["lr"] == 0.05 and spec["data"]["train"]["pipeline"][2]["padding"] == 1


def _assert_rejected(r, *fragments):
    assert r.status_code == 400, r.content
    body = r.json()
    text = body["detail"] + " ".join(e.get("text", "") for e in body.get("errors", []))
    for f in fragments:
        assert f in text, text
    assert Run.objects.count() == 0


def test_it_rejects_a_syntax_error_with_its_line_and_column(cast):
    _assert_rejected(_post(cast, {"spec_text": "model = dict(\n  type='ImageClassifier',,\n)", "dataset": "digits"}),
                     "<spec>:2:")


def test_it_rejects_code_instead_of_running_it(cast, tmp_path):
    probe = tmp_path / "pwned"
    spec = f"import os\nos.system('touch {probe}')\n"
    _assert_rejected(_post(cast, {"spec_text": spec, "dataset": "digits"}), "<spec>:1:1")
    assert not probe.exists()


def test_it_rejects_an_unknown_type_and_suggests_the_close_one(cast):
    spec = (
        "_base_ = ['../demo/resnet18-tiny_2xb32-6e_digits.py']\n"
        "model = dict(backbone=dict(type='ResNet_CIFR'))\n"
    )
    r = _post(cast, {"spec_text": spec, "dataset": "digits"})
    _assert_rejected(r, "ResNet_CIFR", "ResNet_CIFAR", "<spec>:2:")


def test_it_rejects_a_dataset_the_team_does_not_have(cast):
    _assert_rejected(_post(cast, {"spec_name": DEMO_SPEC, "dataset": "secret"}), "No dataset 'secret'", "digits")


def test_it_rejects_a_missing_library_spec(cast):
    _assert_rejected(_post(cast, {"spec_name": "../../backend/settings.py", "dataset": "digits"}), "No library spec")


def test_it_rejects_both_or_neither_spec(cast):
    _assert_rejected(_post(cast, {"dataset": "digits"}), "Give either spec_text")
    _assert_rejected(_post(cast, {"dataset": "digits", "spec_name": DEMO_SPEC, "spec_text": "x = 1"}), "not both")


@pytest.mark.parametrize("resources, message", [
    ({"num_workers": 0}, "num_workers must be an integer from 1"),
    ({"strategy": "horovod"}, "strategy must be 'ddp' or 'deepspeed'"),
    ({"cpus_per_worker": -1}, "cpus_per_worker must be a number"),
    ({"max_failure": 1}, "resources has no key 'max_failure'"),
    ({"strategy": "deepspeed", "deepspeed": {"zero_stage": 7}}, "zero_stage"),
])
def test_it_rejects_impossible_resources(cast, resources, message):
    _assert_rejected(_post(cast, {"spec_name": DEMO_SPEC, "dataset": "digits", "resources": resources}), message)
