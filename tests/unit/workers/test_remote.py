"""``trainyard remote`` against a live server (pytest-django's ``live_server``) and the test cast."""
import json
import stat

import pytest

from backend.experiments.models import LogLine, Run, RunStatus
from tests.support.cast import DEMO_SPEC, Cast
from workers import remote
from workers.cli import main

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cast(transactional_db):
    return Cast()


@pytest.fixture
def env(monkeypatch, tmp_path, live_server, cast):
    """A logged-out shell: its own config folder, no TRAINYARD_* variables."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TRAINYARD_URL", raising=False)
    monkeypatch.delenv("TRAINYARD_TOKEN", raising=False)
    return live_server.url


def _token(cast, who="member") -> str:
    from backend.accounts.models import ApiToken

    return ApiToken.issue(cast.users[who], "cli")[1]


def _login(url, cast, who="member"):
    assert main(["remote", "login", url, "--token", _token(cast, who)]) == 0


def test_it_logs_in_and_stores_the_token_privately(env, cast, capsys):
    token = _token(cast)
    assert main(["remote", "login", env, "--token", token]) == 0
    out = capsys.readouterr().out
    assert f"logged in to {env}; teams: team-a (member)" in out
    path = remote.config_path()
    assert json.loads(path.read_text()) == {"url": env, "token": token}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_it_refuses_a_bad_token_at_login_and_stores_nothing(env, cast, capsys):
    assert main(["remote", "login", env, "--token", "ty_nope"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: the server refused the token (Invalid or revoked API token.)")
    assert not remote.config_path().exists()


def test_it_says_how_to_log_in_when_nothing_is_stored(env, capsys):
    assert main(["remote", "list"]) == 3
    assert "not logged in: run `trainyard remote login URL`" in capsys.readouterr().err


def test_it_takes_url_and_token_from_the_environment(env, cast, monkeypatch, capsys):
    run = cast.make_run(name="from-env")
    monkeypatch.setenv("TRAINYARD_URL", env)
    monkeypatch.setenv("TRAINYARD_TOKEN", _token(cast, "viewer"))
    assert main(["remote", "list"]) == 0
    assert str(run.pk) in capsys.readouterr().out


def test_it_says_when_the_server_is_unreachable(env, cast, monkeypatch, capsys):
    monkeypatch.setenv("TRAINYARD_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TRAINYARD_TOKEN", "ty_x")
    assert main(["remote", "list"]) == 1
    assert "error: cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_it_submits_a_library_spec_and_shows_the_run(env, cast, capsys):
    _login(env, cast)
    capsys.readouterr()
    assert main(["remote", "submit", "--spec-name", DEMO_SPEC, "--dataset", "digits", "--name", "cli run",
                 "--cfg-options", "runner.max_epochs=2", "--workers", "1"]) == 0
    run_id = capsys.readouterr().out.strip()
    run = Run.objects.get(pk=run_id)
    assert run.name == "cli run" and run.resources["num_workers"] == 1
    assert run.resolved_spec["runner"]["max_epochs"] == 2
    assert main(["remote", "show", run_id]) == 0
    out = capsys.readouterr().out
    assert "status:        queued" in out and "name:          cli run" in out


def test_it_shows_a_spec_error_with_its_line(env, cast, tmp_path, capsys):
    _login(env, cast)
    spec = tmp_path / "bad.py"
    spec.write_text("model = dict(\n    type='ImageClassifier',\n    backbone=dict(type=ResNet))\n")
    assert main(["remote", "submit", str(spec), "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The spec is not valid: <spec>:3")
    assert not Run.objects.exists()


def test_it_refuses_a_viewers_submit_clearly(env, cast, capsys):
    _login(env, cast, "viewer")
    assert main(["remote", "submit", "--spec-name", DEMO_SPEC, "--dataset", "digits"]) == 1
    assert "error: Viewers cannot change anything in this team." in capsys.readouterr().err


def test_it_lists_runs_by_status(env, cast, capsys):
    done = cast.make_run(name="done", status=RunStatus.SUCCEEDED, best_metrics={"accuracy_top-1": 91.25})
    cast.make_run(name="waiting")
    _login(env, cast)
    capsys.readouterr()
    assert main(["remote", "list", "--status", "succeeded"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(str(done.pk)) and "succeeded" in line and "91.25" in line and line.endswith("done")


def _finish_on_sleep(monkeypatch, run, lines=()):
    def fake_sleep(_seconds):
        for text in lines:
            LogLine.objects.create(run=run, text=text)
        Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    monkeypatch.setattr(remote.time, "sleep", fake_sleep)


def test_it_follows_logs_until_the_run_ends(env, cast, monkeypatch, capsys):
    run = cast.make_run(status=RunStatus.RUNNING)
    LogLine.objects.create(run=run, text="epoch 1")
    _login(env, cast)
    capsys.readouterr()
    _finish_on_sleep(monkeypatch, run, ["epoch 2", "done"])
    assert main(["remote", "logs", str(run.pk), "--follow"]) == 0
    assert capsys.readouterr().out.splitlines() == ["epoch 1", "epoch 2", "done"]


def test_it_waits_for_the_end_and_exits_by_the_outcome(env, cast, monkeypatch, capsys):
    run = cast.make_run(status=RunStatus.RUNNING)
    _login(env, cast)
    _finish_on_sleep(monkeypatch, run)
    assert main(["remote", "wait", str(run.pk)]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [f"{run.pk}: running", f"{run.pk}: succeeded"]
    failed = cast.make_run(status=RunStatus.FAILED, status_reason="boom")
    assert main(["remote", "wait", str(failed.pk)]) == 1
    assert f"{failed.pk}: failed (boom)" in capsys.readouterr().out


def test_it_cancels_a_run_and_reports_unknown_ones(env, cast, capsys):
    run = cast.make_run(status=RunStatus.QUEUED)
    _login(env, cast)
    capsys.readouterr()
    assert main(["remote", "cancel", str(run.pk)]) == 0
    assert capsys.readouterr().out.strip() == f"{run.pk}: cancelled"
    assert main(["remote", "show", "00000000-0000-0000-0000-000000000000"]) == 1
    assert capsys.readouterr().err.strip() == "error: No such run."


def test_it_submits_an_evaluation_of_a_checkpoint(env, cast, settings, tmp_path, capsys):
    from backend.evaluations.models import Evaluation
    from backend.experiments.models import Checkpoint

    settings.TRAINYARD_STORAGE = tmp_path
    run = cast.make_run(status=RunStatus.SUCCEEDED, resolved_spec={"data": {"test": {"pipeline": []}}})
    (tmp_path / "runs" / str(run.pk)).mkdir(parents=True)
    (tmp_path / "runs" / str(run.pk) / "epoch_1.pth").write_bytes(b"weights")
    ckpt = Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/epoch_1.pth", epoch=1, iteration=10)
    _login(env, cast)
    assert main(["remote", "evaluate", str(ckpt.pk), "--workers", "3", "--metrics", "accuracy",
                 "--metric-options", "topk=1,3"]) == 0
    evaluation = Evaluation.objects.get()
    assert capsys.readouterr().out.splitlines()[-1] == str(evaluation.pk)
    assert (evaluation.num_workers, evaluation.metric_options) == (3, {"topk": [1, 3]})
    assert main(["remote", "evaluate", str(ckpt.pk), "--split", "val"]) == 1
    assert "The run's spec has no data.val to score on" in capsys.readouterr().err
