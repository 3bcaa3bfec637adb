"""A run keeps its spec's facts (``jobspecs.contract.SpecFacts``) from submit on, and the service reads the
spec's metrics, primary metric and length there: right for the specs the old hard-coded top-1 and
``runner.max_epochs`` got wrong (multi-label metrics, a metric where lower is better, iteration-based runs)."""
import importlib

import pytest
from django.apps import apps

import jobspecs
from backend.experiments.models import Run, RunStatus, default_facts
from jobspecs.contract import SpecFacts, spec_facts
from tests.support.cast import DEMO_SPEC

MULTI_LABEL = "csra/resnet101-csra_1xb16_voc07-448px.py"  # mAP, CP, OP, CR, OR, CF1, OF1
ITERATIONS = "vision_transformer/vit-base-p16_ft-4xb544-ipu_in1k.py"  # IterBasedRunner, max_iters=5000


def _val_batch(seq, values: dict, step: int):
    return {"session": "s", "seq": seq, "events": [],
            "metrics": [{"mode": "val", "name": k, "step": step, "epoch": step // 10, "value": v}
                        for k, v in values.items()]}


def _ingest(cast, run, *evaluations):
    client = cast.ingest_client(run)
    for seq, (step, values) in enumerate(evaluations):
        r = client.post(f"/api/ingest/{run.pk}", _val_batch(seq, values, step), format="json")
        assert r.status_code == 200, r.content
    run.refresh_from_db()
    return run


def test_submit_stores_the_facts_of_the_spec_on_the_runs_resources(cast):
    r = cast.clients["member"].post("/api/runs", {"spec_name": DEMO_SPEC, "dataset": "digits",
                                                  "resources": {"num_workers": 3}}, format="json")
    assert r.status_code == 201, r.content
    run = Run.objects.get(pk=r.json()["id"])
    facts = run.spec_facts()
    assert facts == SpecFacts.from_json(run.facts)
    assert (facts.unit, facts.length) == ("epoch", 6)
    assert facts.metric_names == ("accuracy_top-1", "accuracy_top-5")
    assert (facts.primary_metric, facts.primary_mode) == ("accuracy_top-1", "max")
    # 32 images a worker, on the 3 workers the request asked for (the spec says 2)
    assert (facts.batch.num_workers, facts.batch.effective_batch) == (3, 96)


def test_a_multi_label_runs_best_is_its_map(cast):
    run = cast.make_run(status=RunStatus.RUNNING, resolved_spec=jobspecs.load_library(MULTI_LABEL))
    run = _ingest(cast, run, (10, {"mAP": 61.0, "CF1": 50.0}), (20, {"mAP": 72.5, "CF1": 55.0}),
                  (30, {"mAP": 70.0, "CF1": 58.0}))
    assert run.best_metrics == {"mAP": 72.5, "CF1": 55.0, "epoch": 2, "step": 20}
    assert run.primary_best == 72.5


def test_a_metric_where_lower_is_better_keeps_its_lowest_value(cast):
    spec = jobspecs.load_library(DEMO_SPEC)
    spec["evaluation"] = {"interval": 1, "metric": "accuracy", "save_best": "accuracy_top-5", "rule": "less"}
    run = cast.make_run(status=RunStatus.RUNNING, resolved_spec=spec)
    assert run.primary_metric == ("accuracy_top-5", "min")
    run = _ingest(cast, run, (10, {"accuracy_top-1": 50.0, "accuracy_top-5": 40.0}),
                  (20, {"accuracy_top-1": 70.0, "accuracy_top-5": 20.0}),
                  (30, {"accuracy_top-1": 90.0, "accuracy_top-5": 30.0}))
    assert run.best_metrics == {"accuracy_top-1": 70.0, "accuracy_top-5": 20.0, "epoch": 2, "step": 20}


def _finished(cast, spec, best, **kw):
    return cast.make_run(status=RunStatus.SUCCEEDED, resolved_spec=spec, best_metrics=best, **kw)


def test_an_iteration_based_run_shows_its_length_on_the_leaderboard(cast):
    _finished(cast, jobspecs.load_library(ITERATIONS), {"accuracy_top-1": 81.0, "accuracy_top-5": 95.0},
              spec_name=ITERATIONS, trained=5000)
    rows = cast.clients["viewer"].get("/api/leaderboard").json()["results"]
    assert [(e["spec"], e["top1"], e["length"], e["unit"], e["epochs"]) for e in rows] == [
        (ITERATIONS, 81.0, 5000, "iter", None)]
    page = cast.login("viewer").get("/leaderboard")
    assert "5000 iters" in page.content.decode()


def test_a_multi_label_spec_is_ranked_by_its_map_on_the_leaderboard(cast):
    spec = jobspecs.load_library(MULTI_LABEL)
    _finished(cast, spec, {"mAP": 70.0, "epoch": 3}, spec_name=MULTI_LABEL, trained=20)
    best = _finished(cast, spec, {"mAP": 80.0, "epoch": 5}, spec_name=MULTI_LABEL, trained=20)
    rows = cast.clients["viewer"].get("/api/leaderboard").json()["results"]
    assert [(e["run_id"], e["metric"], e["best"], e["top1"], e["runs"], e["epochs"]) for e in rows] == [
        (str(best.pk), "mAP", 80.0, None, 2, 20)]
    page = cast.login("viewer").get("/leaderboard")
    assert "mAP 80.00" in page.content.decode()


def test_a_spec_where_lower_is_better_ranks_its_lowest_first(cast):
    spec = jobspecs.load_library(DEMO_SPEC)
    spec["evaluation"] = {"interval": 1, "metric": "accuracy", "save_best": "accuracy_top-5", "rule": "less"}
    low = _finished(cast, spec, {"accuracy_top-1": 10.0, "accuracy_top-5": 20.0}, spec_name=DEMO_SPEC)
    _finished(cast, spec, {"accuracy_top-1": 90.0, "accuracy_top-5": 99.0}, spec_name=DEMO_SPEC)
    rows = cast.clients["viewer"].get("/api/leaderboard").json()["results"]
    assert [(e["run_id"], e["best"]) for e in rows] == [(str(low.pk), 20.0)]


def test_the_migration_fills_in_the_facts_of_the_runs_stored_before(cast):
    readable = cast.make_run(resolved_spec=jobspecs.load_library(ITERATIONS), resources={"num_workers": 4})
    unreadable = cast.make_run(resolved_spec={"runner": "not a section"})
    Run.objects.update(facts={})  # as the rows were before the field
    migration = importlib.import_module("backend.experiments.migrations.0006_run_facts_sweep_facts")
    migration.backfill(apps, None)

    readable.refresh_from_db()
    spec = {**readable.resolved_spec, "resources": {**readable.resolved_spec.get("resources", {}), "num_workers": 4}}
    assert readable.facts == spec_facts(spec).to_json()
    assert (readable.spec_facts().unit, readable.spec_facts().length) == ("iter", 5000)
    unreadable.refresh_from_db()
    assert unreadable.facts == {}
    assert unreadable.spec_facts() == default_facts(unreadable.resolved_spec, unreadable.resources)
    assert unreadable.primary_metric == ("accuracy_top-1", "max")


@pytest.mark.parametrize("section, spec_part", [
    ("resources", {"resources": {"num_workers": 0}}),
    ("sweep", {"sweep": {"space": {}, "metric": "accuracy_top-1", "mode": "max"}}),
])
def test_a_spec_problem_names_the_section_it_is_about(section, spec_part):
    spec = {**jobspecs.load_library(DEMO_SPEC), **spec_part}
    problems = jobspecs.validate(spec)
    assert problems and all(p.path[:1] == (section,) for p in problems), [(p.path, p.message) for p in problems]
