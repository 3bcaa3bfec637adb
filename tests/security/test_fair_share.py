"""Fair share: one team cannot exhaust the service or the cluster.

Per-team limits on queued and running runs and sweeps (a refusal names the limit; a run over the running
limit waits, queued, and starts when a slot frees, in submission order), bounds on every resource knob and
on ingestion batches, per-user rates on submissions (429 with Retry-After, the API and the forms alike) and
a lockout of password logins that leaves API tokens alone.

Through the API and the service functions with the real PostgreSQL; nothing is mocked. The deferral needs
no Ray (a run that waits never reaches it); the one test that follows a run through Ray uses the live
``attack_stack``.
"""
import json
import re
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from backend.experiments import lifecycle, quotas, tokens
from backend.experiments.models import LogLine, Run, RunStatus, Sweep
from backend.experiments.serializers import IngestBatchSerializer
from tests.support.cast import DEMO_SPEC, SWEEP_SPEC, Cast
from tests.support.live import ONE_WORKER
from workers.distributed.reporter import HttpReporter


@pytest.fixture
def cast(db):
    cache.clear()  # the throttles' history lives in the cache, which outlives a test's transaction
    return Cast()


def _submit(cast, who="member", **payload):
    return cast.clients[who].post("/api/runs", {"spec_name": DEMO_SPEC, "dataset": "digits", **payload},
                                  format="json")


def _submit_sweep(cast, who="member", **payload):
    return cast.clients[who].post("/api/sweeps", {"spec_name": SWEEP_SPEC, "dataset": "digits", **payload},
                                  format="json")


# --- the queued limits: a submit beyond them is refused, naming the limit --------------------------------


def test_it_refuses_a_run_beyond_the_teams_queued_limit_and_says_how_to_raise_it(cast, settings):
    settings.TRAINYARD_TEAM_MAX_QUEUED_RUNS = 2
    cast.make_run(), cast.make_run()
    cast.make_run(status=RunStatus.RUNNING)  # a running run is not waiting
    r = _submit(cast)
    assert r.status_code == 429, r.content
    assert r.json()["detail"] == (
        "Team Team A already has 2 runs waiting (TRAINYARD_TEAM_MAX_QUEUED_RUNS=2, or the team's own limit set "
        "by an operator in /admin); wait for some to start or cancel some.")
    assert Run.objects.count() == 3
    cast.make_run(status=RunStatus.QUEUED, team=cast.other_team, dataset=cast.other_dataset)
    Run.objects.filter(team=cast.team, status=RunStatus.QUEUED).first().transition(RunStatus.CANCELLED)
    assert _submit(cast).status_code == 201  # one waits less: there is room again (team B's run is theirs)


def test_it_refuses_by_the_teams_own_limit_when_an_operator_set_one(cast, settings):
    settings.TRAINYARD_TEAM_MAX_QUEUED_RUNS = 20
    cast.team.max_queued_runs = 1
    cast.team.save()
    cast.make_run()
    r = _submit(cast)
    assert r.status_code == 429
    assert r.json()["detail"] == (
        "Team Team A already has 1 run waiting (the team's own limit, set by an operator in /admin; the default is "
        "TRAINYARD_TEAM_MAX_QUEUED_RUNS=20); wait for some to start or cancel some.")


def test_it_refuses_a_sweep_beyond_the_queued_sweeps_limit(cast, settings):
    settings.TRAINYARD_TEAM_MAX_QUEUED_SWEEPS = 1
    cast.make_sweep()
    r = _submit_sweep(cast)
    assert r.status_code == 429, r.content
    assert "already has 1 sweep waiting (TRAINYARD_TEAM_MAX_QUEUED_SWEEPS=1" in r.json()["detail"]
    assert Sweep.objects.count() == 1


def test_it_refuses_the_new_run_form_beyond_the_queued_limit_too(cast, settings):
    settings.TRAINYARD_TEAM_MAX_QUEUED_RUNS = 1
    cast.make_run()
    r = cast.login("member").post("/runs/new", {"spec_name": DEMO_SPEC, "dataset": "digits", "num_workers": "1",
                                                "cpus_per_worker": "1", "strategy": "ddp"})
    assert r.status_code == 429
    assert "already has 1 run waiting (TRAINYARD_TEAM_MAX_QUEUED_RUNS=1" in r.content.decode().replace("&#x27;", "'")
    assert Run.objects.count() == 1


# --- the running limits: a run over them waits for a slot ------------------------------------------------


def test_it_keeps_a_run_queued_with_a_reason_while_its_team_is_at_the_running_limit(cast):
    cast.team.max_running_runs = 1
    cast.team.save()
    cast.make_run(status=RunStatus.RUNNING)
    waiting = cast.make_run()
    outcome = lifecycle.dispatch(Run, str(waiting.pk))  # returns before Ray: nothing is submitted
    waiting.refresh_from_db()
    assert outcome.startswith("deferred (waiting for a slot")
    assert waiting.status == RunStatus.QUEUED and waiting.ray_submission_id == ""
    assert waiting.status_reason == (
        "waiting for a slot: team Team A has 1 run running (the team's own limit, set by an operator in /admin; "
        "the default is TRAINYARD_TEAM_MAX_RUNNING_RUNS=8); it starts when one ends.")


def test_it_dispatches_the_oldest_waiting_run_when_a_running_one_ends(cast, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(lifecycle, "queue_dispatch", lambda model, pk: queued.append(pk))  # the Celery hop: record what is queued
    cast.team.max_running_runs = 1
    cast.team.save()
    running = cast.make_run(status=RunStatus.RUNNING)
    first, second = cast.make_run(), cast.make_run()
    assert lifecycle.dispatch(Run, str(second.pk)).startswith("deferred")  # the later one's task came first
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue_ingest_token(running)}")
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/api/ingest/{running.pk}", {"session": "s", "seq": 0,
                                                      "events": [{"status": "succeeded"}]}, format="json")
    assert r.status_code == 200, r.content
    assert queued == [first.pk]  # one slot: the oldest waiting run, and only it
    claimed = lifecycle.claim_for_dispatch(Run, first.pk)
    assert claimed.status == RunStatus.DISPATCHING
    assert lifecycle.claim_for_dispatch(Run, second.pk).startswith("deferred (waiting for a slot")


def test_it_counts_only_the_teams_own_runs_and_no_sweep_trials(cast):
    cast.team.max_running_runs = 1
    cast.team.save()
    for _ in range(3):
        cast.make_run(status=RunStatus.RUNNING, team=cast.other_team, dataset=cast.other_dataset)
    sweep = cast.make_sweep(status=RunStatus.RUNNING)
    cast.make_run(status=RunStatus.RUNNING, sweep=sweep, trial_id="t1")
    run = cast.make_run()
    assert lifecycle.claim_for_dispatch(Run, run.pk).status == RunStatus.DISPATCHING


def test_it_defers_a_sweep_while_its_team_is_at_the_running_sweeps_limit(cast, settings):
    settings.TRAINYARD_TEAM_MAX_RUNNING_SWEEPS = 1
    cast.make_sweep(status=RunStatus.RUNNING)
    waiting = cast.make_sweep()
    assert lifecycle.dispatch(Sweep, str(waiting.pk)).startswith("deferred (waiting for a slot: team Team A has 1 sweep "
                                                       "running (TRAINYARD_TEAM_MAX_RUNNING_SWEEPS=1")
    waiting.refresh_from_db()
    assert waiting.status == RunStatus.QUEUED


def test_it_reconciles_only_as_many_waiting_runs_as_the_team_has_free_slots(cast, settings):
    settings.TRAINYARD_TEAM_MAX_RUNNING_RUNS = 2
    cast.make_run(status=RunStatus.RUNNING)
    waiting = [cast.make_run(status_reason="waiting for a slot: ...") for _ in range(3)]
    fresh = cast.make_run(team=cast.other_team, dataset=cast.other_dataset)  # its dispatch task is in flight
    grace = timezone.now() - timedelta(seconds=django_settings.TRAINYARD_DISPATCH_GRACE_SECONDS)
    assert quotas.startable(Run, grace=grace) == [waiting[0].pk]
    cast.make_run(status=RunStatus.DISPATCHING)
    assert quotas.startable(Run, grace=grace) == []  # at the limit: no task only to wait again
    Run.objects.filter(pk=fresh.pk).update(created_at=grace - timedelta(seconds=1))
    assert quotas.startable(Run, grace=grace) == [fresh.pk]  # a lost dispatch task is queued again


@pytest.mark.django_db(transaction=True)
def test_it_counts_under_the_teams_lock_so_two_dispatches_cannot_take_the_last_slot():
    cast = Cast()
    cast.team.max_running_runs = 1
    cast.team.save()
    waiting = cast.make_run()
    outcome = []

    def dispatch_elsewhere():
        try:
            outcome.append(lifecycle.claim_for_dispatch(Run, waiting.pk))
        finally:
            connection.close()

    with transaction.atomic():
        quotas._lock_team(cast.team.pk)  # another dispatch holds the lock and is taking the last slot
        cast.make_run(status=RunStatus.DISPATCHING, created_at=timezone.now() - timedelta(hours=1))
        other = threading.Thread(target=dispatch_elsewhere)
        other.start()
        time.sleep(1.0)  # without the lock it would have counted no running run and dispatched by now
        assert outcome == []
    other.join(30)
    assert outcome and isinstance(outcome[0], str) and outcome[0].startswith("deferred")
    waiting.refresh_from_db()
    assert waiting.status == RunStatus.QUEUED


# --- the team page shows the limits and what is in use -------------------------------------------------


def _limit_row(page: str, field: str) -> list[str]:
    row = re.search(rf'<tr data-limit="{field}">(.*?)</tr>', page, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_it_shows_each_limit_its_use_and_an_operators_override_on_the_team_page(cast, settings):
    settings.TRAINYARD_TEAM_MAX_QUEUED_RUNS = 20
    cast.team.max_running_runs = 3
    cast.team.save()
    cast.make_run(status=RunStatus.RUNNING), cast.make_run(status=RunStatus.DISPATCHING), cast.make_run()
    page = cast.login("viewer").get("/teams/team-a").content.decode()
    assert _limit_row(page, "max_running_runs") == ["Running runs", "2", "3", "an operator, for this team (default 8)"]
    assert _limit_row(page, "max_queued_runs") == ["Queued runs", "1", "20",
                                                   "default (TRAINYARD_TEAM_MAX_QUEUED_RUNS)"]
    assert _limit_row(page, "max_running_sweeps")[1:3] == ["0", "2"]


def test_it_lets_an_operator_set_a_teams_limits_in_the_admin(cast):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", password="pw-root")
    page = cast.login("root").get(f"/admin/accounts/team/{cast.team.pk}/change/").content.decode()
    for field in ("max_queued_runs", "max_running_runs", "max_queued_sweeps", "max_running_sweeps"):
        assert f'name="{field}"' in page


# --- bounds on every knob --------------------------------------------------------------------------------


@pytest.mark.parametrize("resources, message", [
    ({"num_workers": 65}, "resources.num_workers must be an integer from 1 to 64 (TRAINYARD_MAX_NUM_WORKERS)"),
    ({"cpus_per_worker": 33}, "resources.cpus_per_worker is 33, above this service's maximum of 32 "
                              "(TRAINYARD_MAX_CPUS_PER_WORKER)"),
    ({"gpus_per_worker": 9}, "resources.gpus_per_worker is 9, above this service's maximum of 8 "
                             "(TRAINYARD_MAX_GPUS_PER_WORKER)"),
    ({"max_failures": 6}, "resources.max_failures is 6, above this service's maximum of 5 (TRAINYARD_MAX_FAILURES)"),
    ({"max_failures": -1}, "resources.max_failures must be an integer >= 0, not -1 — retries of a run whose job "
                           "died; -1 (for ever) is not allowed"),
])
def test_it_refuses_resources_beyond_the_operators_maxima_naming_the_setting(cast, resources, message):
    r = _submit(cast, resources=resources)
    assert r.status_code == 400
    assert message in r.json()["detail"]
    assert not Run.objects.exists()


@pytest.mark.parametrize("line, message", [
    ("data = dict(workers_per_gpu=64)", "<spec>:2:29: data.workers_per_gpu must be an integer from 0 to 16, not 64"),
    ("data = dict(samples_per_gpu=100000)", "<spec>:2:29: data.samples_per_gpu must be an integer from 1 to 4096, "
                                            "not 100000"),
    ("data = dict(val_dataloader=dict(workers_per_gpu=17))",
     "<spec>:2:49: data.val_dataloader.workers_per_gpu must be an integer from 0 to 16, not 17"),
    ("resources = dict(max_failures=-1)", "<spec>:2:31: resources.max_failures must be an integer >= 0, not -1"),
])
def test_it_points_at_the_line_and_column_of_an_unbounded_value_in_the_spec(cast, line, message):
    spec = f"_base_ = ['../demo/resnet18-tiny_2xb32-6e_digits.py']\n{line}\n"
    r = cast.clients["member"].post("/api/runs", {"spec_text": spec, "dataset": "digits"}, format="json")
    assert r.status_code == 400
    assert message in r.json()["detail"]


@pytest.mark.parametrize("sweep, message", [
    ({"num_samples": 11}, "the sweep would run 11 trials; at most 10 (TRAINYARD_SWEEP_MAX_TRIALS)"),
    ({"max_concurrent_trials": 5}, "sweep.max_concurrent_trials is 5; at most 4 (TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS"),
])
def test_it_refuses_a_sweep_beyond_the_trial_bounds_naming_the_setting(cast, settings, sweep, message):
    settings.TRAINYARD_SWEEP_MAX_TRIALS, settings.TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS = 10, 4
    config = {"space": {"optimizer.lr": {"type": "loguniform", "lower": 1e-3, "upper": 1e-1}},
              "metric": "accuracy_top-1", "mode": "max", **sweep}
    r = _submit_sweep(cast, sweep=config)
    assert r.status_code == 400
    assert message in r.json()["detail"]
    assert not Sweep.objects.exists()


# --- ingestion: bounded batches, and a reporter that never sends one the server refuses -----------------


def _ingest_client(run) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue_ingest_token(run)}")
    return client


@pytest.mark.parametrize("kind, item, most", [
    ("logs", "a line", 5000),
    ("checkpoints", {"path": "runs/x/epoch_1.pth", "epoch": 1, "iteration": 1}, 100),
    ("events", {"status": None, "reason": "x"}, 100),
])
def test_it_refuses_a_batch_with_more_items_than_the_bound(cast, kind, item, most):
    run = cast.make_run(status=RunStatus.RUNNING)
    r = _ingest_client(run).post(f"/api/ingest/{run.pk}", {"session": "s", "seq": 0, kind: [item] * (most + 1)},
                                 format="json")
    assert r.status_code == 400
    assert f"no more than {most} elements" in json.dumps(r.json())
    assert not LogLine.objects.filter(run=run).exists()


def test_it_refuses_a_request_body_over_the_upload_limit_with_413(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    body = {"session": "s", "seq": 0, "logs": ["x" * 1000] * 4300}  # 4.3 MB of JSON
    r = _ingest_client(run).post(f"/api/ingest/{run.pk}", body, format="json")
    assert r.status_code == 413
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in r.json()["detail"]
    assert not LogLine.objects.filter(run=run).exists()


def test_it_cuts_a_giant_log_line_and_keeps_the_rest_of_the_batch(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    r = _ingest_client(run).post(f"/api/ingest/{run.pk}", {
        "session": "s", "seq": 0, "logs": ["y" * 100_000, "next"],
        "metrics": [{"mode": "train", "name": "loss", "step": 1, "value": 0.5}]}, format="json")
    assert r.status_code == 200, r.content
    texts = list(LogLine.objects.filter(run=run).values_list("text", flat=True))
    assert texts == ["y" * 3999 + "…", "next"]
    assert run.metrics.count() == 1


class Ingestion:
    """A stand-in ingestion endpoint checking each batch with the server's own serializer and body limit."""

    def __init__(self):
        self.accepted, self.refused = [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                ser = IngestBatchSerializer(data=json.loads(raw))
                ok = len(raw) <= django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE and ser.is_valid()
                (outer.accepted if ok else outer.refused).append(ser.validated_data if ok else (len(raw), ser.errors))
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/ingest/run"

    def items(self, kind: str) -> list:
        return [item for batch in self.accepted for item in batch.get(kind, [])]


def test_the_reporter_never_builds_a_batch_the_server_refuses(tmp_path):
    ingestion = Ingestion()
    reporter = HttpReporter(ingestion.url, "t", tmp_path / "spool", storage_root=tmp_path, flush_interval=0.05,
                            max_items=1_000_000)  # no item cap of its own: only the server's bounds stop it
    try:
        giant = "z" * 10_001
        reporter.log(giant)
        for i in range(1200):
            reporter.log(f"{i:05d}" + "l" * 3000)  # 3.6 MB of lines: more than one request may carry
        for i in range(6000):
            reporter.log(f"short {i}")
        reporter.metrics(1, {"loss": float("nan"), "lr": float("inf"), "x" * 65: 1.0})  # none storable
        reporter.metrics(1, {"top": 1.0}, mode="test")
        for step in range(51_000):
            reporter.metrics(step, {"loss": 1.0})
        for i in range(150):
            reporter.checkpoint(str(tmp_path / f"epoch_{i}.pth"), i, i)
            reporter.event(None, "x" * 5000, environment={"seed": i})
        assert reporter.close(timeout=120)
    finally:
        ingestion.server.shutdown()
    assert ingestion.refused == []
    lines = ingestion.items("logs")
    assert "".join(lines[:3]) == giant and [len(line) for line in lines[:3]] == [4000, 4000, 2001]
    assert len(lines) == 3 + 1200 + 6000
    assert len(ingestion.items("metrics")) == 51_000
    assert len(ingestion.items("checkpoints")) == 150 and len(ingestion.items("events")) == 150
    assert all(len(e["reason"]) == 4000 for e in ingestion.items("events"))


# --- rates: 429 with Retry-After beyond a scope's rate, the API and the forms alike ------------------------


@pytest.fixture
def rates(settings):
    """Real rates (the test settings put them out of reach), two a minute each."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {s: "2/min" for s in ("runs", "sweeps", "datasets", "tokens")}}


def _assert_throttled(r, what: str, setting: str):
    assert r.status_code == 429, r.content
    assert 1 <= int(r["Retry-After"]) <= 60
    body = r.content.decode() if "html" in r["Content-Type"] else r.json()["detail"]
    assert f"Too many {what}: at most 2/min per user ({setting})" in body


@pytest.mark.parametrize("path, payload, what, setting", [
    ("/api/runs", {"spec_name": DEMO_SPEC, "dataset": "digits"}, "runs submitted", "TRAINYARD_THROTTLE_RUNS"),
    ("/api/sweeps", {"spec_name": "nope.py", "dataset": "digits"}, "sweeps submitted", "TRAINYARD_THROTTLE_SWEEPS"),
    ("/api/datasets", {"name": "d"}, "datasets registered", "TRAINYARD_THROTTLE_DATASETS"),
    ("/api/tokens", {"name": "laptop"}, "API tokens made", "TRAINYARD_THROTTLE_TOKENS"),
])
def test_it_answers_429_with_retry_after_beyond_a_submission_rate(cast, rates, path, payload, what, setting):
    client = cast.clients["member"]
    first = [client.post(path, payload, format="json").status_code for _ in range(2)]
    assert all(code != 429 for code in first), first  # refused attempts (a bad spec) count too
    _assert_throttled(client.post(path, payload, format="json"), what, setting)
    assert cast.clients["owner"].post(path, payload, format="json").status_code != 429  # per user


def test_it_counts_the_new_run_form_and_the_api_together(cast, rates):
    assert _submit(cast).status_code == 201
    browser = cast.login("member")
    form = {"spec_name": DEMO_SPEC, "dataset": "digits", "num_workers": "1", "cpus_per_worker": "1", "strategy": "ddp"}
    assert browser.post("/runs/new", form).status_code == 302
    _assert_throttled(browser.post("/runs/new", form), "runs submitted", "TRAINYARD_THROTTLE_RUNS")
    assert Run.objects.count() == 2


def test_it_throttles_the_token_page_like_the_api(cast, rates):
    browser = cast.login("member")
    assert [browser.post("/tokens", {"name": "a"}).status_code for _ in range(2)] == [200, 200]
    _assert_throttled(browser.post("/tokens", {"name": "a"}), "API tokens made", "TRAINYARD_THROTTLE_TOKENS")


# --- logins: locked out after repeated failures; API tokens unaffected ------------------------------------


def test_it_locks_out_password_logins_after_repeated_failures_but_not_the_api_token(cast):
    limit = django_settings.AXES_FAILURE_LIMIT
    browser = Client()
    codes = [browser.post("/login/", {"username": "owner", "password": "guess"}).status_code for _ in range(limit)]
    assert codes == [200] * (limit - 1) + [429]
    r = browser.post("/login/", {"username": "owner", "password": "pw-owner"})  # the right one, too late
    assert r.status_code == 429 and "_auth_user_id" not in browser.session
    page = r.content.decode()
    assert f"Too many failed logins ({limit}) for this username from your address" in page
    assert "locked for 15 minutes" in page
    assert cast.clients["owner"].get("/api/runs").status_code == 200  # the personal token still works
    elsewhere = Client(REMOTE_ADDR="10.0.0.9")  # nobody can lock a person out from another address
    assert elsewhere.post("/login/", {"username": "owner", "password": "pw-owner"}).status_code == 302


# --- through Ray: the second run starts when the first ends ----------------------------------------------


def _set_running_limit(live, value) -> None:
    code = (f"from backend.accounts.models import Team; "
            f"Team.objects.filter(slug='demo').update(max_running_runs={value!r})")
    done = live.stack.manage("shell", "-c", code, check=False)
    assert done.returncode == 0, done.stderr


def test_it_starts_a_teams_second_run_only_when_its_first_ends(attack_stack):
    ended = ("succeeded", "failed", "cancelled")
    _set_running_limit(attack_stack, 1)
    second = None
    try:
        first = attack_stack.submit(name="fair share 1", resources=ONE_WORKER, cfg_options={"runner.max_epochs": 1})
        second = attack_stack.submit(name="fair share 2", resources=ONE_WORKER, cfg_options={"runner.max_epochs": 1})
        attack_stack.wait_for(first["id"], lambda r: r["status"] in ("running", *ended), 240, "the first run")
        waiting = attack_stack.api("GET", f"/api/runs/{second['id']}").json()
        assert waiting["status"] == "queued", waiting
        assert waiting["status_reason"].startswith("waiting for a slot: team ")
        assert "has 1 run running (the team's own limit, set by an operator in /admin" in waiting["status_reason"]
        done = attack_stack.wait_for(first["id"], lambda r: r["status"] in ended, 240, "the first run to end")
        assert done["status"] == "succeeded", done
        started = attack_stack.wait_for(second["id"], lambda r: r["status"] != "queued", 60, "the second to start")
        assert datetime.fromisoformat(started["dispatched_at"]) >= datetime.fromisoformat(done["finished_at"])
    finally:
        if second is not None:
            attack_stack.api("POST", f"/api/runs/{second['id']}/cancel")
            attack_stack.wait_for(second["id"], lambda r: r["status"] in ended, 120, "the second run to stop")
        _set_running_limit(attack_stack, None)
