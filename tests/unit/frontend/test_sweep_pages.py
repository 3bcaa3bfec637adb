"""Sweep pages: list, new sweep with its search-space editor, a sweep's trials and plot, cancel."""
import json

import pytest
from django.test import Client

from backend.experiments import submit, trials
from backend.experiments.models import MetricPoint, RunStatus, Sweep

SWEEP_SPEC = "demo/resnet18-tiny_asha-sweep_digits.py"


def _login(cast, who) -> Client:
    client = Client()
    client.force_login(cast.users[who])
    return client


def _form(**extra):
    data = {"spec_name": SWEEP_SPEC, "dataset": "digits", "name": "lr search", "metric": "accuracy_top-1",
            "mode": "max", "num_samples": "3", "search_alg": "random", "scheduler": "asha",
            "max_concurrent_trials": "2", "num_workers": "1", "cfg_options": "runner.max_epochs=3",
            "key_0": "optimizer.lr", "type_0": "loguniform", "lower_0": "0.001", "upper_0": "0.3",
            "key_1": "model.head.loss.label_smooth_val", "type_1": "choice", "values_1": "0.0, 0.1"}
    data.update(extra)
    return data


def test_it_prefills_the_editor_from_the_library_specs_sweep(cast):
    r = _login(cast, "member").get("/sweeps/new")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'value="optimizer.lr"' in html and 'value="model.head.loss.label_smooth_val"' in html
    assert 'value="0.0, 0.1"' in html


def test_it_starts_a_sweep_from_the_editor_rows(cast):
    r = _login(cast, "member").post("/sweeps/new", _form())
    sweep = Sweep.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/sweeps/{sweep.pk}"
    assert sweep.config["space"] == {
        "optimizer.lr": {"type": "loguniform", "lower": 0.001, "upper": 0.3},
        "model.head.loss.label_smooth_val": {"type": "choice", "values": [0.0, 0.1]}}
    assert sweep.config["num_samples"] == 3 and sweep.resolved_spec["runner"]["max_epochs"] == 3
    assert sweep.resources["num_workers"] == 1


@pytest.mark.parametrize("extra, message", [
    ({"upper_0": "lots"}, "upper of &#x27;optimizer.lr&#x27; must be a number"),
    ({"key_0": "optimiser.lr"}, "the spec has no &#x27;optimiser&#x27;"),
    ({"metric": "top1"}, "sweep.metric &#x27;top1&#x27; is not a metric"),
])
def test_it_shows_why_a_sweep_was_refused_and_stores_nothing(cast, extra, message):
    r = _login(cast, "member").post("/sweeps/new", _form(**extra))
    assert r.status_code == 200
    assert message in r.content.decode()
    assert not Sweep.objects.exists()


def test_it_refuses_a_viewer(cast):
    assert _login(cast, "viewer").post("/sweeps/new", _form()).status_code == 403
    assert not Sweep.objects.exists()


def _sweep_with_trials(cast) -> Sweep:
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits", spec_name=SWEEP_SPEC)
    sweep.transition(RunStatus.DISPATCHING)
    sweep.transition(RunStatus.RUNNING)
    for i, (lr, value) in enumerate([(0.1, 55.0), (0.01, 93.5)]):
        run = trials.register_trial(sweep, f"tr_{i}", {"optimizer.lr": lr, "model.head.loss.label_smooth_val": 0.1})
        points = [MetricPoint(run=run, mode="val", name="accuracy_top-1", step=1, epoch=1, value=value)]
        MetricPoint.objects.bulk_create(points)
        trials.note_trial_points(run, points)
        if i == 0:
            run.early_stopped = True
            run.save()
            run.transition(RunStatus.SUCCEEDED, "stopped early by the scheduler")
    return sweep


def test_it_shows_trials_best_trial_early_stops_and_plot_data(cast):
    sweep = _sweep_with_trials(cast)
    r = _login(cast, "viewer").get(f"/sweeps/{sweep.pk}")
    assert r.status_code == 200
    html = r.content.decode()
    assert "early-stopped" in html and "tr_1</a>" in html and "93.50 ★" in html
    assert "Cancel sweep" not in html  # a viewer cannot cancel
    start = html.index('id="sweep-plot-data"')
    data = json.loads(html[html.index(">", start) + 1:html.index("</script>", start)])
    assert data["keys"] == ["optimizer.lr", "model.head.loss.label_smooth_val"] and data["log"] == [True, False]
    assert sorted(t["value"] for t in data["trials"]) == [55.0, 93.5]
    assert [t["early"] for t in data["trials"]] == [True, False]
    listing = _login(cast, "member").get("/sweeps").content.decode()
    assert sweep.name in listing and "93.50" in listing


def test_it_hides_a_sweep_from_outsiders_and_lets_members_cancel(cast):
    sweep = submit.submit_sweep(cast.users["owner"], dataset="digits", spec_name=SWEEP_SPEC)
    outsider = _login(cast, "outsider")
    for url in (f"/sweeps/{sweep.pk}", f"/sweeps/{sweep.pk}/trials"):
        assert outsider.get(url).status_code == 404
    assert outsider.post(f"/sweeps/{sweep.pk}/cancel").status_code == 404
    assert _login(cast, "viewer").post(f"/sweeps/{sweep.pk}/cancel").status_code == 403
    r = _login(cast, "member").post(f"/sweeps/{sweep.pk}/cancel")
    assert r.status_code == 302
    sweep.refresh_from_db()
    assert sweep.status == RunStatus.CANCELLED


def test_it_marks_a_trial_pbt_cloned_with_its_new_params(cast):
    sweep = _sweep_with_trials(cast)
    trials.register_trial(sweep, "tr_1", {"optimizer.lr": 0.012, "model.head.loss.label_smooth_val": 0.1})
    html = _login(cast, "viewer").get(f"/sweeps/{sweep.pk}/trials").content.decode()
    row = html[html.index("tr_1</a>"):]
    row = row[:row.index("</tr>")]
    assert "cloned ×1" in row and "<td>0.012</td>" in row
    assert html.count("cloned ×") == 1  # only the trial PBT restarted
