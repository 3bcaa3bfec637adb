"""The dashboard in a real browser: log in, a spec error inline, a live curve, leaderboard sorting."""
import time

import requests

from backend.experiments.models import RunStatus
from backend.experiments.tokens import issue_ingest_token
from tests.support.browser import login

BAD_SPEC = "model = dict(\n    type='ImageClassifier',\n    backbone=dict(type=ResNet))\n"


def test_it_logs_in_and_lands_on_the_runs(page, server, cast):
    cast.make_run(name="visible run")
    page.goto(f"{server}/")
    assert "/login/" in page.url
    login(page, server, "member")
    assert page.locator("header form.logout span").inner_text() == "member"
    assert page.get_by_text("visible run").is_visible()


def test_it_refuses_a_wrong_password(page, server, cast):
    page.goto(f"{server}/login/")
    page.fill("input[name=username]", "member")
    page.fill("input[name=password]", "nope")
    page.click("button[type=submit]")
    assert "/login/" in page.url


def test_it_shows_a_spec_error_inline_at_its_line(page, server, cast):
    login(page, server, "member")
    page.goto(f"{server}/runs/new")
    page.evaluate("document.querySelectorAll('input[name=spec_name]').forEach(r => { r.checked = false; })")
    page.fill("#spec-text", BAD_SPEC)
    page.click("#submit-run")
    errors = page.locator("[data-testid=spec-errors]")
    errors.filter(has_text="ResNet").wait_for()
    assert "line 3" in errors.inner_text() or ":3" in errors.inner_text()
    assert "/runs/new" in page.url
    assert not cast.team.runs.exists()


def _post_batch(server, run, seq, steps, logs=()):
    batch = {"session": "e2e", "seq": seq,
             "metrics": [{"mode": "train", "name": "loss", "step": s, "epoch": 1, "value": 2.0 / s} for s in steps]
             + [{"mode": "train", "name": "lr", "step": s, "epoch": 1, "value": 0.1} for s in steps],
             "logs": list(logs), "events": [{"status": "running"}]}
    r = requests.post(f"{server}/api/ingest/{run.pk}", json=batch,
                      headers={"Authorization": f"Bearer {issue_ingest_token(run)}"}, timeout=10)
    assert r.status_code == 200, r.text


def _canvas_pixels(page) -> str:
    return page.evaluate("() => Array.from(document.querySelectorAll('#curves canvas'))"
                         ".map(c => c.toDataURL()).join('|')")


def test_it_updates_a_runs_curve_live(page, server, cast):
    run = cast.make_run(name="live one", status=RunStatus.DISPATCHING)
    login(page, server, "viewer")
    page.goto(f"{server}/runs/{run.pk}")
    page.locator("#log").wait_for(state="attached")
    _post_batch(server, run, 0, range(1, 21), ["Epoch [1][20/100] loss: 0.1"])
    page.locator("#log").filter(has_text="Epoch [1][20/100]").wait_for()  # streamed, no reload
    page.locator("#curves canvas").first.wait_for()
    first = _canvas_pixels(page)
    _post_batch(server, run, 1, range(21, 200, 3), ["Epoch [1][200/100] loss: 0.01"])
    page.locator("#log").filter(has_text="Epoch [1][200/100]").wait_for()
    deadline = time.time() + 10
    while _canvas_pixels(page) == first and time.time() < deadline:
        time.sleep(0.2)
    assert _canvas_pixels(page) != first, "the curve did not change after new points arrived"
    assert page.locator("#run-status").inner_text().strip() == "running"


def test_it_sorts_the_leaderboard_by_a_clicked_column(page, server, cast):
    for spec, top1, top5 in [("lenet/lenet5_mnist.py", 98.0, 99.0), ("resnet/resnet18_8xb32_in1k.py", 70.0, 99.9),
                             ("demo/resnet18-tiny_2xb32-6e_digits.py", 85.0, 95.0)]:
        cast.make_run(spec_name=spec, status=RunStatus.SUCCEEDED,
                      best_metrics={"accuracy_top-1": top1, "accuracy_top-5": top5})
    login(page, server, "viewer")
    page.goto(f"{server}/leaderboard")

    def specs():
        return page.eval_on_selector_all("#leaderboard tr.entry", "rows => rows.map(r => r.dataset.spec)")

    assert specs()[0] == "lenet/lenet5_mnist.py"
    page.click("#leaderboard th a[data-key=top1]")  # best first -> worst first
    page.wait_for_url("**ordering=top1")
    assert specs()[0] == "resnet/resnet18_8xb32_in1k.py"
    page.click("#leaderboard th a[data-key=top5]")
    page.wait_for_url("**ordering=-top5")
    assert specs()[0] == "resnet/resnet18_8xb32_in1k.py" and specs()[-1] == "demo/resnet18-tiny_2xb32-6e_digits.py"
    page.click("#leaderboard tr.entry[data-spec='lenet/lenet5_mnist.py'] a")
    page.wait_for_url(f"{server}/runs/**")
