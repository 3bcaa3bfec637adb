"""What a leaderboard row says of a run comes from what the run did and its stored facts (issue #17, item 2):
"epochs" is what it trained (its reports), iterations for an iteration-based spec, and the family is its
model's, named by the workers for any spec, in the model zoo or not."""
import importlib

import pytest
from django.apps import apps

import jobspecs
from backend.experiments.models import Run, RunStatus
from tests.support.cast import DEMO_SPEC
from tests.support.leaderboard import RESNET, report, report_epochs

ITERATIONS = "vision_transformer/vit-base-p16_ft-4xb544-ipu_in1k.py"  # IterBasedRunner, max_iters=5000


def _running(cast, spec_name="", spec=None, **kw) -> Run:
    spec = spec if spec is not None else jobspecs.load_library(spec_name)
    return cast.make_run(status=RunStatus.RUNNING, spec_name=spec_name, resolved_spec=spec, **kw)


def _row(cast, run) -> dict:
    rows = cast.clients["viewer"].get("/api/leaderboard").json()["results"]
    return next(e for e in rows if e["run_id"] == str(run.pk))


def test_epochs_are_the_epochs_a_run_trained_not_its_specs_length(cast):
    run = _running(cast, DEMO_SPEC)
    report_epochs(cast, run, [50.0, 70.0, 65.0])  # best at epoch 2, cancelled after 3 of 6
    row = _row(cast, run)
    assert row["epochs"] == 3  # not the spec's 6, nor the best evaluation's 2
    assert (row["epochs"], row["length"], row["planned_length"], row["early_stopped"]) == (3, 3, 6, False)
    assert "3 <span class=\"muted\">of 6</span>" in cast.login("viewer").get("/leaderboard").content.decode()


def test_an_iteration_based_run_shows_the_iterations_it_trained(cast):
    run = _running(cast, ITERATIONS)
    report(cast, run, 0, metrics=[{"mode": "train", "name": "loss", "step": s, "epoch": 1, "value": 1.0}
                                  for s in (100, 200, 300)])
    report(cast, run, 1, metrics=[{"mode": "val", "name": "accuracy_top-1", "step": 300, "epoch": 1,
                                   "value": 12.5}])
    row = _row(cast, run)
    assert (row["epochs"], row["length"], row["unit"]) == (None, 300, "iter")  # not the spec's 5000
    assert row["planned_length"] == 5000
    assert "300 iters" in cast.login("viewer").get("/leaderboard").content.decode()


def test_a_reported_checkpoint_counts_as_trained(cast):
    run = _running(cast, DEMO_SPEC)
    report_epochs(cast, run, [50.0])
    r = cast.ingest_client(run).post(f"/api/ingest/{run.pk}", {"session": "s", "seq": 6, "checkpoints": [
        {"path": f"runs/{run.pk}/epoch_2.pth", "epoch": 2, "iteration": 20}]}, format="json")
    assert r.status_code == 200, r.content
    run.refresh_from_db()
    assert run.trained == 2


@pytest.mark.parametrize("spec_name, backbone, family", [
    (DEMO_SPEC, None, "ResNet"),                    # a library spec outside the zoo (its folder is "demo")
    ("", "ResNet_CIFAR", "ResNet"),                 # a pasted spec: the family of the class it extends
    ("", "SEResNeXt", "SE-ResNet"),                 # the zoo's name of the backbone's file
    ("", "LeNet5", "LeNet5"),                       # a backbone no metafile covers: its own name
])
def test_the_family_is_the_models_for_any_spec(cast, spec_name, backbone, family):
    spec = jobspecs.load_library(DEMO_SPEC)
    if backbone is not None:
        spec["model"]["backbone"] = {"type": backbone}
    run = _running(cast, spec_name, spec, best_metrics={"accuracy_top-1": 50.0})
    assert _row(cast, run)["family"] == family
    assert run.spec_facts().family == family
    r = cast.clients["viewer"].get("/api/leaderboard", {"family": family.lower()})
    assert [e["run_id"] for e in r.json()["results"]] == [str(run.pk)]


def test_submit_stores_the_models_family_in_the_facts(cast):
    r = cast.clients["member"].post("/api/runs", {"spec_name": RESNET, "dataset": "digits"}, format="json")
    assert r.status_code == 201, r.content
    assert Run.objects.get(pk=r.json()["id"]).facts["family"] == "ResNet"


def test_the_migration_fills_in_trained_and_the_family_of_the_runs_stored_before(cast):
    run = _running(cast, DEMO_SPEC)
    report_epochs(cast, run, [50.0, 60.0])
    iterations = _running(cast, ITERATIONS)
    report(cast, iterations, 0, metrics=[{"mode": "train", "name": "loss", "step": 700, "epoch": 1, "value": 1.0}])
    untouched = _running(cast, DEMO_SPEC)
    facts = {**run.facts}
    facts.pop("family")
    Run.objects.update(trained=None)  # as the rows were before the field
    Run.objects.filter(pk=run.pk).update(facts=facts)  # and facts without the family
    migration = importlib.import_module("backend.experiments.migrations.0007_run_trained_facts_family")
    migration.backfill_trained(apps, None)
    migration.backfill_family(apps, None)

    for r in (run, iterations, untouched):
        r.refresh_from_db()
    assert (run.trained, iterations.trained, untouched.trained) == (2, 700, None)
    assert run.facts["family"] == "ResNet"
