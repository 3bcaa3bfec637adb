"""The dashboard pages as each member of the cast sees them."""
import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

from backend.experiments.models import LogLine, MetricPoint, Run, RunStatus


def login(cast, who) -> Client:
    c = Client()
    assert c.login(username=who, password="pw-" + who)
    return c


def test_it_sends_strangers_to_the_login_page():
    r = Client().get("/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_it_lists_only_the_teams_runs(cast):
    mine = cast.make_run(name="ours")
    cast.make_run(name="theirs", team=cast.other_team, dataset=cast.other_team.datasets.get())
    page = login(cast, "viewer").get("/").content.decode()
    assert "ours" in page and "theirs" not in page
    assert f"/runs/{mine.pk}" in page


def test_it_offers_the_demo_spec_first_on_the_new_run_form(cast):
    page = login(cast, "member").get("/runs/new").content.decode()
    first_row = page.split('data-testid="spec-row"')[1]
    assert 'value="demo/resnet18-tiny_2xb32-6e_digits.py"' in first_row and "checked" in first_row
    assert "digits (10 classes)" in page


def test_it_shows_a_spec_error_at_its_line_and_stores_nothing(cast):
    r = login(cast, "member").post("/runs/new", {
        "spec_text": "model = dict(\n    type='ImageClassifier',\n    backbone=dict(type=ResNet))\n",
        "dataset": "digits", "num_workers": "2",
    })
    assert r.status_code == 400
    page = r.content.decode()
    assert "line 3" in page and "ResNet" in page
    assert not Run.objects.exists()


def test_it_submits_from_the_form_and_opens_the_run_page(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        r = login(cast, "member").post("/runs/new", {
            "spec_name": "demo/resnet18-tiny_2xb32-6e_digits.py", "dataset": "digits",
            "cfg_options": "runner.max_epochs=2\n", "name": "from the form", "num_workers": "1",
        })
    run = Run.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/runs/{run.pk}"
    assert run.name == "from the form" and run.resources["num_workers"] == 1
    assert run.resolved_spec["runner"]["max_epochs"] == 2 and len(callbacks) == 1


def test_it_keeps_viewers_from_submitting_or_cancelling(cast):
    viewer = login(cast, "viewer")
    assert "your role in this team is viewer" in viewer.get("/runs/new").content.decode()
    r = viewer.post("/runs/new", {"spec_name": "demo/resnet18-tiny_2xb32-6e_digits.py", "dataset": "digits"})
    assert r.status_code == 403 and not Run.objects.exists()
    run = cast.make_run(status=RunStatus.RUNNING)
    assert viewer.post(f"/runs/{run.pk}/cancel").status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert "Cancel run" not in viewer.get(f"/runs/{run.pk}").content.decode()


@pytest.mark.parametrize("path", ["/runs/{id}", "/runs/{id}/events", "/runs/{id}/checkpoints", "/runs/{id}/timeline"])
def test_it_hides_other_teams_runs(cast, path):
    run = cast.make_run()
    assert login(cast, "outsider").get(path.format(id=run.pk)).status_code == 404
    assert login(cast, "outsider").post(f"/runs/{run.pk}/cancel").status_code == 404


def test_it_cancels_a_queued_run_from_its_page(cast):
    run = cast.make_run()
    r = login(cast, "member").post(f"/runs/{run.pk}/cancel", follow=True)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert "Cancel requested" in r.content.decode()


def _events(response) -> list[tuple[str, object]]:
    async def read():
        body = b"".join([chunk async for chunk in response.streaming_content])
        await sync_to_async(connections.close_all)()  # the stream's thread let go of the test DB
        return body

    body = asyncio.run(read()).decode()
    out = []
    for frame in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


# The stream reads the database from another thread: the rows must be committed.
@pytest.mark.django_db(transaction=True)
def test_it_streams_points_lines_and_status_then_ends(cast):
    run = cast.make_run(status=RunStatus.SUCCEEDED)
    MetricPoint.objects.create(run=run, mode="train", name="loss", step=5, epoch=1, value=1.5)
    MetricPoint.objects.create(run=run, mode="val", name="accuracy_top-1", step=10, epoch=1, value=93.0)
    LogLine.objects.create(run=run, text="Epoch [1][5/10] loss: 1.5")
    r = login(cast, "viewer").get(f"/runs/{run.pk}/events")
    assert r["Content-Type"] == "text/event-stream"
    events = _events(r)
    kinds = [k for k, _ in events]
    assert kinds == ["metrics", "logs", "status", "end"]
    assert events[0][1] == [["train", "loss", 5, 1, 1.5], ["val", "accuracy_top-1", 10, 1, 93.0]]
    assert events[1][1] == ["Epoch [1][5/10] loss: 1.5"]
    assert events[2][1]["status"] == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_it_resumes_the_stream_after_the_last_event_id(cast):
    run = cast.make_run(status=RunStatus.SUCCEEDED)
    first = MetricPoint.objects.create(run=run, mode="train", name="loss", step=5, value=1.5)
    MetricPoint.objects.create(run=run, mode="train", name="loss", step=10, value=1.0)
    line = LogLine.objects.create(run=run, text="old")
    r = login(cast, "viewer").get(f"/runs/{run.pk}/events", HTTP_LAST_EVENT_ID=f"{first.pk}-{line.pk}")
    events = dict(_events(r))
    assert events["metrics"] == [["train", "loss", 10, None, 1.0]]
    assert "logs" not in events


def test_it_shows_the_timeline_with_each_steps_reason(cast):
    run = cast.make_run()
    run.transition(RunStatus.DISPATCHING)
    run.transition(RunStatus.RUNNING, "the Ray job started")
    run.transition(RunStatus.FAILED, "RuntimeError: out of memory")
    page = login(cast, "viewer").get(f"/runs/{run.pk}/timeline").content.decode()
    assert page.index("dispatching") < page.index("running") < page.index("failed")
    assert "RuntimeError: out of memory" in page
    run.refresh_from_db()
    assert run.status_reason == "RuntimeError: out of memory"


def test_it_offers_downloads_only_for_checkpoints_still_on_storage(cast, settings, tmp_path):
    from backend.experiments.models import Checkpoint

    settings.TRAINYARD_STORAGE = tmp_path
    run = cast.make_run(status=RunStatus.SUCCEEDED)
    (tmp_path / "runs" / str(run.pk)).mkdir(parents=True)
    (tmp_path / "runs" / str(run.pk) / "epoch_4.pth").write_bytes(b"w")
    Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/epoch_2.pth", epoch=2, iteration=20)
    kept = Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/epoch_4.pth", epoch=4, iteration=40)
    page = login(cast, "viewer").get(f"/runs/{run.pk}/checkpoints").content.decode()
    assert page.count("download</a>") == 1 and f"/checkpoints/{kept.pk}/download" in page
    assert "rotated out" in page
    api = cast.clients["viewer"].get(f"/api/runs/{run.pk}/checkpoints").json()
    assert [(c["filename"], c["available"]) for c in api] == [("epoch_2.pth", False), ("epoch_4.pth", True)]
