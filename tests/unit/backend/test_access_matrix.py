"""Every URL pattern of the project, tried by the owner, a member, a viewer and an outsider.

The matrix below lists each pattern of Django's URL resolver with the requests to make and the status
each member of the cast must get. ``test_it_lists_every_url_pattern`` walks the resolver and fails for
a pattern the matrix does not name: a new endpoint must say here who may use it.

Rules the statuses follow: another team's object is a 404 (outsiders cannot learn it exists), a viewer's
write is a 403, a writer's write succeeds (2xx or a redirect back to a page).
"""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from backend.accounts.models import ApiToken, Membership
from backend.deployments.models import Deployment, DeploymentStatus
from backend.experiments.models import Checkpoint, RunStatus, Sweep
from tests.support.cast import DEMO_SPEC
from tests.support.evaluations import make_evaluation
from workers.distributed.sweep import normalise

ROLES = ("owner", "member", "viewer", "outsider")
READ = (200, 200, 200, 404)  # a team object: the team reads it, an outsider does not see it
ALL = (200, 200, 200, 200)  # the user's own view of things (lists, forms)
WRITE = (200, 200, 403, 404)
OWNER_ONLY = (200, 403, 403, 404)
REDIRECT_WRITE = (302, 302, 403, 404)
REFUSED = (403, 403, 403, 403)  # not for users at all (the reporter's per-run token)


def _check(method, url, expect, data=None, api=True):
    return {"method": method, "url": url, "expect": dict(zip(ROLES, expect, strict=True)), "data": data, "api": api}


def GET(url, expect, **kw):  # noqa: N802
    return _check("get", url, expect, **kw)


def POST(url, expect, data=None, **kw):  # noqa: N802
    return _check("post", url, expect, data, **kw)


# pattern (as the resolver spells it) -> requests; {run}, {ckpt}, ... are filled in from the fixture.
MATRIX = {
    # --- REST API ---
    "api/": [GET("/api/", ALL)],
    "api/^runs$": [GET("/api/runs", ALL),
                   POST("/api/runs", (201, 201, 403, 400), {"spec_name": DEMO_SPEC, "dataset": "digits"})],
    "api/^runs/bulk$": [POST("/api/runs/bulk", (200, 200, 403, 404), {"action": "cancel", "ids": ["{run}"]})],
    "api/^runs/(?P<pk>[0-9a-fA-F-]{36})$": [GET("/api/runs/{run}", READ)],
    "api/^runs/(?P<pk>[0-9a-fA-F-]{36})/cancel$": [POST("/api/runs/{run}/cancel", (202, 202, 403, 404))],
    "api/^runs/(?P<pk>[0-9a-fA-F-]{36})/checkpoints$": [GET("/api/runs/{run}/checkpoints", READ)],
    r"api/^runs/(?P<pk>[0-9a-fA-F-]{36})/checkpoints/(?P<ckpt_id>\d+)/download$": [
        GET("/api/runs/{run}/checkpoints/{ckpt}/download", READ)],
    "api/^runs/(?P<pk>[0-9a-fA-F-]{36})/logs$": [GET("/api/runs/{run}/logs", READ)],
    "api/^runs/(?P<pk>[0-9a-fA-F-]{36})/metrics$": [GET("/api/runs/{run}/metrics", READ)],
    "api/^runs/(?P<pk>[0-9a-fA-F-]{36})/tags$": [POST("/api/runs/{run}/tags", WRITE, {"add": ["baseline"]})],
    "api/^datasets$": [GET("/api/datasets", ALL)],
    "api/^datasets/(?P<pk>[^/.]+)$": [GET("/api/datasets/{dataset}", READ)],
    "api/^datasets/(?P<pk>[^/.]+)/verify$": [POST("/api/datasets/{dataset}/verify", WRITE)],
    "api/^sweeps$": [GET("/api/sweeps", ALL)],
    "api/^sweeps/(?P<pk>[0-9a-fA-F-]{36})$": [GET("/api/sweeps/{sweep}", READ)],
    "api/^sweeps/(?P<pk>[0-9a-fA-F-]{36})/cancel$": [POST("/api/sweeps/{sweep}/cancel", (202, 202, 403, 404))],
    "api/^sweeps/(?P<pk>[0-9a-fA-F-]{36})/logs$": [GET("/api/sweeps/{sweep}/logs", READ)],
    "api/^sweeps/(?P<pk>[0-9a-fA-F-]{36})/trials$": [GET("/api/sweeps/{sweep}/trials", READ)],
    "api/^leaderboard$": [GET("/api/leaderboard", ALL)],
    "api/^leaderboard/csv$": [GET("/api/leaderboard/csv", ALL)],
    "api/^leaderboard/verify$": [POST("/api/leaderboard/verify", (201, 201, 403, 404), {"run": "{verifiable_run}"})],
    "api/^teams$": [GET("/api/teams", ALL)],
    "api/^teams/(?P<slug>[-a-zA-Z0-9_]+)$": [GET("/api/teams/team-a", READ)],
    "api/^teams/(?P<slug>[-a-zA-Z0-9_]+)/members$": [
        POST("/api/teams/team-a/members", (201, 403, 403, 404), {"username": "newcomer"})],
    r"api/^teams/(?P<slug>[-a-zA-Z0-9_]+)/members/(?P<member_id>\d+)$": [
        _check("patch", "/api/teams/team-a/members/{viewer_membership}", OWNER_ONLY, {"role": "member"}),
        _check("delete", "/api/teams/team-a/members/{viewer_membership}", (204, 403, 403, 404))],
    "api/^tokens$": [GET("/api/tokens", ALL), POST("/api/tokens", (201, 201, 201, 201), {"name": "ci"})],
    r"api/^tokens/(?P<pk>\d+)$": [GET("/api/tokens/{own_token}", ALL),
                                  GET("/api/tokens/{owner_token}", (200, 404, 404, 404))],
    r"api/^tokens/(?P<pk>\d+)/revoke$": [POST("/api/tokens/{owner_token}/revoke", (200, 404, 404, 404))],
    "api/^deployments$": [GET("/api/deployments", ALL),
                          POST("/api/deployments", (201, 201, 403, 404), {"checkpoint": "{served_ckpt}"})],
    "api/^deployments/(?P<pk>[0-9a-fA-F-]{36})$": [
        GET("/api/deployments/{deployment}", READ),
        _check("delete", "/api/deployments/{deployment}", (202, 202, 403, 404))],
    "api/^deployments/(?P<pk>[0-9a-fA-F-]{36})/predict$": [  # no image: refused, but only to the team
        POST("/api/deployments/{deployment}/predict", (400, 400, 400, 404))],
    "api/^deployments/(?P<pk>[0-9a-fA-F-]{36})/cam$": [  # no image: refused, but only to the team
        POST("/api/deployments/{deployment}/cam", (400, 400, 400, 404))],
    "api/^evaluations$": [GET("/api/evaluations", ALL),
                          POST("/api/evaluations", (201, 201, 403, 404), {"checkpoint": "{served_ckpt}"})],
    "api/^evaluations/(?P<pk>[0-9a-fA-F-]{36})$": [GET("/api/evaluations/{evaluation}", READ)],
    "api/^evaluations/(?P<pk>[0-9a-fA-F-]{36})/analysis$": [GET("/api/evaluations/{evaluation}/analysis", READ)],
    "api/^evaluations/(?P<pk>[0-9a-fA-F-]{36})/cancel$": [
        POST("/api/evaluations/{queued_evaluation}/cancel", (202, 202, 403, 404))],
    "api/ingest/<str:run_id>": [POST("/api/ingest/{run}", REFUSED, {"session": "s", "seq": 0})],
    "api/ingest/sweeps/<str:sweep_id>": [POST("/api/ingest/sweeps/{sweep}", REFUSED, {"session": "s", "seq": 0})],
    "api/ingest/sweeps/<str:sweep_id>/trials": [
        POST("/api/ingest/sweeps/{sweep}/trials", REFUSED, {"trial_id": "t1"})],
    "api/schema/": [GET("/api/schema/", ALL)],
    "api/docs/": [GET("/api/docs/", ALL)],
    # --- pages ---
    "": [GET("/", ALL, api=False)],
    "login/": [GET("/login/", ALL, api=False)],
    "logout/": [POST("/logout/", (302, 302, 302, 302), api=False)],
    "runs/new": [GET("/runs/new", ALL, api=False)],
    "runs/new/specs": [GET("/runs/new/specs", ALL, api=False)],
    "runs/new/validate": [POST("/runs/new/validate", ALL, {"spec_name": DEMO_SPEC}, api=False)],
    "runs/bulk": [POST("/runs/bulk", REDIRECT_WRITE, {"action": "cancel", "ids": ["{run}"]}, api=False)],
    "runs/table": [GET("/runs/table", ALL, api=False)],
    "runs/<str:pk>": [GET("/runs/{run}", READ, api=False)],
    "runs/<str:pk>/cancel": [POST("/runs/{run}/cancel", REDIRECT_WRITE, api=False)],
    "runs/<str:pk>/checkpoints": [GET("/runs/{run}/checkpoints", READ, api=False)],
    "runs/<str:pk>/timeline": [GET("/runs/{run}/timeline", READ, api=False)],
    "runs/<str:pk>/events": [],  # an endless stream: tried in test_it_streams_events_only_to_the_team
    "runs/<str:pk>/diff": [GET("/runs/{run}/diff?other={run2}", READ, api=False)],
    "runs/<str:pk>/tags": [POST("/runs/{run}/tags", REDIRECT_WRITE, {"add": "baseline"}, api=False)],
    "runs/<str:pk>/cam": [POST("/runs/{run}/cam", (400, 400, 400, 404), {"checkpoint": "{ckpt}"}, api=False)],
    "runs/<str:pk>/checkpoints/<int:ckpt_id>/cam/<str:request_id>": [
        GET("/runs/{run}/checkpoints/{ckpt}/cam/{cam_request}", READ, api=False)],
    "sweeps": [GET("/sweeps", ALL, api=False)],
    "sweeps/new": [GET("/sweeps/new", ALL, api=False)],
    "sweeps/<str:pk>": [GET("/sweeps/{sweep}", READ, api=False)],
    "sweeps/<str:pk>/trials": [GET("/sweeps/{sweep}/trials", READ, api=False)],
    "sweeps/<str:pk>/cancel": [POST("/sweeps/{sweep}/cancel", REDIRECT_WRITE, api=False)],
    "deployments": [GET("/deployments", ALL, api=False)],
    "deployments/new": [POST("/deployments/new", REDIRECT_WRITE, {"checkpoint": "{served_ckpt}"}, api=False)],
    "deployments/<str:pk>": [GET("/deployments/{deployment}", READ, api=False)],
    "deployments/<str:pk>/status": [GET("/deployments/{deployment}/status", READ, api=False)],
    "deployments/<str:pk>/undeploy": [POST("/deployments/{deployment}/undeploy", REDIRECT_WRITE, api=False)],
    "deployments/<str:pk>/try": [POST("/deployments/{deployment}/try", (400, 400, 400, 404), api=False)],
    "evaluations": [GET("/evaluations", ALL, api=False)],
    "evaluations/new": [POST("/evaluations/new", REDIRECT_WRITE, {"checkpoint": "{served_ckpt}"}, api=False)],
    "evaluations/<str:pk>": [GET("/evaluations/{evaluation}", READ, api=False),
                             GET("/evaluations/{evaluation}?metrics=precision&sort=confusion&normalize=1", READ,
                                 api=False)],
    "evaluations/<str:pk>/samples/<int:index>": [GET("/evaluations/{evaluation}/samples/1", READ, api=False)],
    "evaluations/<str:pk>/cancel": [POST("/evaluations/{queued_evaluation}/cancel", REDIRECT_WRITE, api=False)],
    "datasets": [GET("/datasets", ALL, api=False)],
    "datasets/<int:pk>": [GET("/datasets/{dataset}", READ, api=False)],
    "datasets/<int:pk>/verify": [POST("/datasets/{dataset}/verify", REDIRECT_WRITE, api=False)],
    "leaderboard": [GET("/leaderboard", ALL, api=False), GET("/leaderboard?verified=1", ALL, api=False)],
    "leaderboard/verify": [POST("/leaderboard/verify", REDIRECT_WRITE, {"run": "{verifiable_run}"}, api=False)],
    "teams": [GET("/teams", ALL, api=False)],
    "teams/<slug:slug>": [GET("/teams/team-a", READ, api=False)],
    "teams/<slug:slug>/members": [
        POST("/teams/team-a/members", (302, 403, 403, 404), {"username": "newcomer"}, api=False)],
    "teams/<slug:slug>/members/<int:member_id>/role": [
        POST("/teams/team-a/members/{viewer_membership}/role", (302, 403, 403, 404), {"role": "member"}, api=False)],
    "teams/<slug:slug>/members/<int:member_id>/remove": [
        POST("/teams/team-a/members/{viewer_membership}/remove", (302, 403, 403, 404), api=False)],
    "tokens": [GET("/tokens", ALL, api=False), POST("/tokens", ALL, {"name": "laptop"}, api=False)],
    "tokens/<int:token_id>/revoke": [POST("/tokens/{owner_token}/revoke", (302, 404, 404, 404), api=False)],
}
ADMIN_PREFIX = "admin/"  # the admin site: staff only, tried in test_it_keeps_the_admin_for_staff
FORMAT_SUFFIX = r"\.(?P<format>[a-z0-9]+)/?$"  # DRF's `.json` twins of the router's patterns


def _patterns(resolvers=None, prefix=""):
    for p in resolvers if resolvers is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def _covered(pattern: str) -> bool:
    if pattern.startswith(ADMIN_PREFIX) or pattern in MATRIX:
        return True
    if pattern.endswith(FORMAT_SUFFIX):
        return pattern[: -len(FORMAT_SUFFIX)] + "$" in MATRIX
    return pattern == "api/<drf_format_suffix:format>"


def test_it_lists_every_url_pattern():
    missing = [p for p in _patterns() if not _covered(p)]
    assert not missing, "URL patterns missing from the access matrix (say who may use them):\n" + "\n".join(missing)


def test_it_names_no_pattern_that_is_gone():
    existing = set(_patterns())
    assert not [p for p in MATRIX if p not in existing]


@pytest.fixture
def world(cast, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    get_user_model().objects.create_user("newcomer")
    run = cast.make_run(status=RunStatus.RUNNING)
    run2 = cast.make_run(status=RunStatus.SUCCEEDED)
    (tmp_path / "runs" / str(run.pk)).mkdir(parents=True)
    (tmp_path / "runs" / str(run.pk) / "epoch_1.pth").write_bytes(b"weights")
    ckpt = Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/epoch_1.pth", epoch=1, iteration=10, size=7)
    sweep = Sweep.objects.create(team=cast.team, created_by=cast.users["owner"], name="s", dataset=cast.dataset,
                                 spec_text="x = 1", resolved_spec={"x": 1}, spec_hash="0" * 64,
                                 status=RunStatus.QUEUED,
                                 config=normalise({"space": {"optimizer.lr": {"type": "choice", "values": [0.1, 0.01]}},
                                                   "metric": "accuracy_top-1", "mode": "max"}))
    served = cast.make_run(status=RunStatus.SUCCEEDED, resolved_spec={"data": {"test": {"pipeline": []}}})
    (tmp_path / "runs" / str(served.pk)).mkdir(parents=True)
    (tmp_path / "runs" / str(served.pk) / "epoch_1.pth").write_bytes(b"weights")
    served_ckpt = Checkpoint.objects.create(run=served, path=f"runs/{served.pk}/epoch_1.pth", epoch=1, iteration=10)
    deployment = Deployment.objects.create(team=cast.team, run=served, checkpoint=served_ckpt, name="d",
                                           status=DeploymentStatus.RUNNING)
    evaluation = make_evaluation(cast, served_ckpt, tmp_path, scores=[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]],
                                 labels=[0, 1, 1], status=RunStatus.SUCCEEDED)
    queued_evaluation = make_evaluation(cast, served_ckpt, tmp_path)
    verifiable = cast.make_run(status=RunStatus.SUCCEEDED, best_metrics={"accuracy_top-1": 90.0},
                               resolved_spec={"data": {"val": {"pipeline": []}}})
    (tmp_path / "runs" / str(verifiable.pk)).mkdir(parents=True)
    (tmp_path / "runs" / str(verifiable.pk) / "epoch_1.pth").write_bytes(b"weights")
    Checkpoint.objects.create(run=verifiable, path=f"runs/{verifiable.pk}/epoch_1.pth", epoch=1, iteration=10)
    cam_request = tmp_path / "cams" / str(ckpt.pk) / ("ab" * 16)  # a map request of ckpt that has its answer
    cam_request.mkdir(parents=True)
    (cam_request / "job.json").write_text(f'{{"checkpoint_id": {ckpt.pk}}}')
    (cam_request / "result.json").write_text('{"error": "x.png: not an image"}')
    return {"run": run.pk, "run2": run2.pk, "ckpt": ckpt.pk, "sweep": sweep.pk, "dataset": cast.dataset.pk,
            "served_ckpt": served_ckpt.pk, "deployment": deployment.pk, "evaluation": evaluation.pk,
            "queued_evaluation": queued_evaluation.pk, "verifiable_run": str(verifiable.pk), "cam_request": "ab" * 16,
            "viewer_membership": Membership.objects.get(user=cast.users["viewer"]).pk,
            "owner_token": ApiToken.objects.get(user=cast.users["owner"]).pk}


CASES = [(pattern, i, who) for pattern, checks in MATRIX.items() for i in range(len(checks)) for who in ROLES]


def _fill(value, names: dict):
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize("pattern, index, who", CASES, ids=[f"{p or '/'}#{i}-{w}" for p, i, w in CASES])
def test_it_gives_each_role_its_status(cast, world, pattern, index, who):
    check = MATRIX[pattern][index]
    names = {**world, "own_token": ApiToken.objects.get(user=cast.users[who]).pk}
    url, data = _fill(check["url"], names), _fill(check["data"], names)
    if check["api"]:
        client = cast.clients[who]
        response = getattr(client, check["method"])(url, data, format="json") if data is not None else \
            getattr(client, check["method"])(url)
    else:
        client = Client()
        client.force_login(cast.users[who])
        response = getattr(client, check["method"])(url, data or {})
    assert response.status_code == check["expect"][who], f"{check['method'].upper()} {url} as {who}"


@pytest.mark.parametrize("who, status", [("owner", 200), ("viewer", 200), ("outsider", 404)])
def test_it_streams_events_only_to_the_team(cast, world, who, status):
    run = cast.make_run(status=RunStatus.SUCCEEDED)  # a finished run's stream ends at once
    client = Client()
    client.force_login(cast.users[who])
    response = client.get(f"/runs/{run.pk}/events")
    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "text/event-stream"


def test_it_keeps_the_admin_for_staff(cast):
    for who in ROLES:
        client = Client()
        client.force_login(cast.users[who])
        r = client.get("/admin/accounts/team/")
        assert r.status_code == 302 and r["Location"].startswith("/admin/login/"), who
    staff = get_user_model().objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/accounts/apitoken/").status_code == 200


@pytest.mark.parametrize("url", ["/api/runs", "/api/leaderboard", "/api/teams", "/api/tokens", "/api/sweeps"])
def test_it_asks_strangers_to_authenticate(url):
    assert Client().get(url).status_code in (401, 403)


# --- nothing outside storage is ever served ----------------------------------------------------------


@pytest.mark.parametrize("path", ["../secret.pth", "runs/../../secret.pth", "/etc/passwd", "{outside}",
                                  "runs/link.pth", "runs/dirlink/secret.pth", "runs", ""])
def test_it_never_serves_a_checkpoint_path_outside_storage(cast, settings, tmp_path, path):
    storage = tmp_path / "storage"
    (storage / "runs").mkdir(parents=True)
    secret = tmp_path / "secret.pth"
    secret.write_bytes(b"not yours")
    (storage / "runs" / "link.pth").symlink_to(secret)
    (storage / "runs" / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    settings.TRAINYARD_STORAGE = storage
    run = cast.make_run(status=RunStatus.SUCCEEDED)
    ckpt = Checkpoint.objects.create(run=run, path=path.format(outside=str(secret)), epoch=1, iteration=1)
    r = cast.clients["owner"].get(f"/api/runs/{run.pk}/checkpoints/{ckpt.pk}/download")
    assert r.status_code == 404
    assert b"not yours" not in (b"".join(r.streaming_content) if r.streaming else r.content)


def test_it_serves_a_checkpoint_inside_storage(cast, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    run = cast.make_run(status=RunStatus.SUCCEEDED)
    (tmp_path / "runs" / str(run.pk)).mkdir(parents=True)
    (tmp_path / "runs" / str(run.pk) / "epoch_2.pth").write_bytes(b"weights")
    ckpt = Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/./epoch_2.pth", epoch=2, iteration=1)
    r = cast.clients["viewer"].get(f"/api/runs/{run.pk}/checkpoints/{ckpt.pk}/download")
    assert r.status_code == 200 and b"".join(r.streaming_content) == b"weights"


# --- request size limits -----------------------------------------------------------------------------


def test_it_refuses_a_request_body_over_the_limit(cast, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 8 * 1024 * 1024
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    r = cast.clients["member"].post("/api/runs", {"spec_text": big, "dataset": "digits"}, format="json")
    assert r.status_code == 413 and "DATA_UPLOAD_MAX_MEMORY_SIZE" in r.json()["detail"]
    assert not cast.team.runs.exists()
    run = cast.make_run(status=RunStatus.RUNNING)
    r = cast.ingest_client(run).post(f"/api/ingest/{run.pk}", {"session": "s", "seq": 0, "logs": [big]},
                                     format="json")
    assert r.status_code == 413 and not run.log_lines.exists()
