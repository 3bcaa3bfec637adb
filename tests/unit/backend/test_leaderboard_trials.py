"""A sweep's trials on the leaderboard (issue #17, item 2): a trial's row names its sweep's spec and its
parameters and links the sweep; trials of one spec and one set of parameters collapse into the best with a
count, trials of other parameters are other rows; an early-stopped trial shows the epochs it trained."""
import csv
import io
import json

import jobspecs
from tests.support.leaderboard import SWEEP_SPEC, finished_run, reported_trial, running_sweep

LOW = {"optimizer.lr": 0.01, "model.head.loss.label_smooth_val": 0.0}
HIGH = {"optimizer.lr": 0.1, "model.head.loss.label_smooth_val": 0.1}


def _board(cast, who="viewer"):
    r = cast.clients[who].get("/api/leaderboard", {"dataset": "digits"})
    assert r.status_code == 200, r.content
    return r.json()["results"]


def test_it_names_a_trials_sweep_spec_and_parameters_and_links_the_sweep(cast):
    sweep = running_sweep(cast)
    low = reported_trial(cast, sweep, "t_00000", LOW, [40.0, 60.0, 70.0])
    high = reported_trial(cast, sweep, "t_00001", HIGH, [50.0, 80.0])
    rows = _board(cast)
    assert [e["spec"] for e in rows] == [SWEEP_SPEC, SWEEP_SPEC]  # not pasted:<hash of the trial's own spec>
    assert [(e["spec"], e["params"], e["sweep_id"], e["run_id"], e["top1"]) for e in rows] == [
        (SWEEP_SPEC, HIGH, str(sweep.pk), str(high.pk), 80.0),
        (SWEEP_SPEC, LOW, str(sweep.pk), str(low.pk), 70.0)]
    assert not any(e["spec"].startswith("pasted:") for e in rows)

    html = cast.login("viewer").get("/leaderboard", {"dataset": "digits"}).content.decode()
    row = html.split(f'data-sweep="{sweep.pk}"')[1].split("</tr>")[0]
    assert f'href="/sweeps/{sweep.pk}"' in row
    assert 'model.head.loss.label_smooth_val=0.1, optimizer.lr=0.1' in row


def test_it_collapses_the_trials_of_one_spec_and_parameters_from_several_sweeps(cast):
    first, second = running_sweep(cast), running_sweep(cast)
    reported_trial(cast, first, "a_00000", LOW, [40.0])
    best = reported_trial(cast, second, "b_00000", LOW, [40.0, 65.0])
    other = reported_trial(cast, second, "b_00001", HIGH, [30.0])
    own = finished_run(cast, SWEEP_SPEC, 90.0)  # the spec trained as a run of its own: a row of its own too
    rows = _board(cast)
    assert [(e["run_id"], e["runs"], e["params"]) for e in rows] == [
        (str(own.pk), 1, None), (str(best.pk), 2, LOW), (str(other.pk), 1, HIGH)]
    assert rows[1]["sweep_id"] == str(second.pk)


def test_a_pasted_sweeps_trials_are_named_by_the_sweeps_pasted_name(cast):
    sweep = running_sweep(cast, spec_text=jobspecs.dumps(jobspecs.load_library(SWEEP_SPEC)))
    assert sweep.spec_name == ""
    trial = reported_trial(cast, sweep, "t_00000", LOW, [55.0])
    [row] = _board(cast)
    assert (row["spec"], row["params"], row["run_id"]) == ("pasted:" + sweep.spec_hash[:12], LOW, str(trial.pk))
    assert trial.spec_hash != sweep.spec_hash  # the trial's own spec (the parameters applied) is not the row's name


def test_an_early_stopped_trial_shows_the_epochs_it_trained(cast):
    sweep = running_sweep(cast)
    stopped = reported_trial(cast, sweep, "t_00000", LOW, [45.0], early=True)
    assert stopped.early_stopped and stopped.spec_facts().length == 6
    [row] = _board(cast)
    assert row["epochs"] == 1  # not the spec's 6
    assert (row["epochs"], row["length"], row["unit"], row["planned_length"], row["early_stopped"]) == (
        1, 1, "epoch", 6, True)
    html = cast.login("viewer").get("/leaderboard", {"dataset": "digits"}).content.decode()
    cell = html.split('<td class="trained">')[1].split("</td>")[0]
    assert cell.startswith("1 ") and "of 6" in cell and "stopped early" in cell


def test_it_exports_a_trials_parameters_as_json_in_the_csv(cast):
    sweep = running_sweep(cast)
    reported_trial(cast, sweep, "t_00000", HIGH, [50.0])
    r = cast.clients["viewer"].get("/api/leaderboard/csv", {"dataset": "digits"})
    [row] = [row for row in csv.DictReader(io.StringIO(r.content.decode())) if row["reference"] == "False"]
    assert json.loads(row["params"]) == HIGH and row["sweep_id"] == str(sweep.pk) and row["epochs"] == "1"


def test_an_outsider_sees_no_trial_of_another_team(cast):
    sweep = running_sweep(cast)
    reported_trial(cast, sweep, "t_00000", LOW, [50.0])
    assert _board(cast, "outsider") == []
    assert str(sweep.pk) not in cast.login("outsider").get("/leaderboard").content.decode()
