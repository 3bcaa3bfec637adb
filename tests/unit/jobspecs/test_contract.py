"""The contract between the service and its workers (``jobspecs.contract``): documents survive a round trip
through JSON, another release's version and a malformed field are refused with a message naming the field,
and a spec's facts are the ones its training will have."""
from __future__ import annotations

import json

import pytest

import jobspecs
from jobspecs.contract import (
    MAX_BATCH_ITEMS,
    CheckpointRecord,
    ContractError,
    Event,
    IngestBatch,
    Job,
    LogLine,
    MetricPoint,
    ReportEndpoint,
    Resources,
    SpecFacts,
    spec_facts,
)

SPEC = {"model": {"type": "ImageClassifier"}, "runner": {"type": "EpochBasedRunner", "max_epochs": 2},
        "resources": {"num_workers": 2, "strategy": "ddp"}}

# What backend/experiments/services.py job_document writes for a run today (no version: read as 1).
RUN_JOB = {"run_id": "5f0c", "name": "r", "run_key": "runs/5f0c", "spec": SPEC, "data_key": "datasets/team-a/digits",
           "dataset_name": "digits", "resources": {"num_workers": 2, "cpus_per_worker": 1, "gpus_per_worker": 0,
                                                   "strategy": "ddp"},
           "checkpoints": {"checkpoint:7": "runs/r0/work/epoch_2.pth"}, "allowed_url_hosts": ["download.pytorch.org"]}
# ... and backend/experiments/sweeps.py dispatch for a sweep.
SWEEP_JOB = {"sweep_id": "9a1b", "name": "s", "sweep_key": "sweeps/9a1b", "max_concurrent_trials": 4,
             "sweep": {"space": {"optimizer.lr": {"type": "choice", "values": [0.1]}}, "metric": "accuracy_top-1",
                       "mode": "max", "search_alg": "random", "scheduler": "fifo", "num_samples": 1,
                       "max_concurrent_trials": None},
             **{k: v for k, v in RUN_JOB.items() if k not in ("run_id", "run_key", "name")}}


def _through_json(document: dict) -> dict:
    return json.loads(json.dumps(document))


def test_it_reads_the_job_file_the_backend_writes_and_writes_it_back_the_same():
    job = Job.from_json(_through_json(RUN_JOB))
    assert (job.run_id, job.run_folder, job.data_key, job.version) == ("5f0c", "runs/5f0c", "datasets/team-a/digits", 1)
    assert job.resources == Resources(num_workers=2, cpus_per_worker=1, gpus_per_worker=0, strategy="ddp")
    assert job.to_json() == {**RUN_JOB, "version": 1}
    assert Job.from_json(_through_json(job.to_json())) == job


def test_it_reads_a_sweeps_job_file_with_its_own_part():
    job = Job.from_json(_through_json(SWEEP_JOB))
    assert (job.run_id, job.sweep.id, job.sweep.key, job.sweep.max_concurrent_trials) == (None, "9a1b", "sweeps/9a1b", 4)
    assert job.sweep.space == {"optimizer.lr": {"type": "choice", "values": [0.1]}}
    assert job.to_json() == {**SWEEP_JOB, "version": 1}
    assert Job.from_json(_through_json(job.to_json())) == job


def test_the_token_of_the_report_endpoint_never_reaches_the_file():
    job = Job.from_json({**RUN_JOB, "report": {"url": "http://web/api/ingest/5f0c"}})
    assert job.report == ReportEndpoint("http://web/api/ingest/5f0c")
    text = json.dumps(Job(spec={}, run_id="r", report=ReportEndpoint("http://web", "secret-token")).to_json())
    assert "secret-token" not in text and '"url": "http://web"' in text


def test_a_jobs_resources_complete_the_specs_own_once_and_the_worker_trains_with_them(tmp_path):
    spec = {**SPEC, "resources": {"num_workers": 4, "strategy": "deepspeed", "deepspeed": {"zero_stage": 2}}}
    job = Job.from_json({"run_id": "r1", "spec": spec, "resources": {"num_workers": 2, "cpus_per_worker": 3}})
    assert job.resources == Resources(num_workers=2, cpus_per_worker=3, strategy="deepspeed",
                                      deepspeed={"zero_stage": 2})
    (tmp_path / "data").mkdir()
    trained = job.worker_spec(data_root=tmp_path / "data", run_root=tmp_path)
    assert trained["resources"] == {"num_workers": 2, "cpus_per_worker": 3, "gpus_per_worker": 0,
                                    "strategy": "deepspeed", "deepspeed": {"zero_stage": 2}}
    assert job.spec["resources"]["num_workers"] == 4  # the stored spec is left as it is
    assert (job.resources.device, job.resources.threads_per_worker) == ("cpu", 3)


@pytest.mark.parametrize("document, message", [
    ({**RUN_JOB, "version": 2}, "job.version: version 2 is not one this side reads (it reads 1)"),
    ({**RUN_JOB, "spec_path": "x"}, "job: unknown key(s) 'spec_path'"),
    ({k: v for k, v in RUN_JOB.items() if k != "run_id"}, "job.run_id: a non-empty string, not None"),
    ({**RUN_JOB, "resources": {"num_workers": 0}}, "job.resources.num_workers: an integer >= 1, not 0"),
    ({**RUN_JOB, "resources": {"num_workers": "2"}}, "job.resources.num_workers: an integer >= 1, not '2'"),
    ({**RUN_JOB, "resources": {"strategy": "fsdp"}}, "job.resources.strategy: one of 'ddp', 'deepspeed', not 'fsdp'"),
    ({**RUN_JOB, "resources": {"gpus": 1}}, "job.resources: unknown key(s) 'gpus'"),
    ({**RUN_JOB, "checkpoints": {"checkpoint:7": 7}}, "job.checkpoints.checkpoint:7: a non-empty string, not 7"),
    ({**RUN_JOB, "spec": "model = dict()"}, "job.spec: an object, not str"),
    ({**SWEEP_JOB, "sweep": {"metric": "x"}}, "job.sweep.space: an object, not NoneType"),
])
def test_it_refuses_a_job_of_another_version_or_with_a_malformed_field(document, message):
    with pytest.raises(ContractError) as err:
        Job.from_json(document)
    assert str(err.value).startswith(message), str(err.value)


def _batch() -> IngestBatch:
    return IngestBatch(
        session="a" * 32, seq=3,
        metrics=(MetricPoint("train", "loss", 10, 0.5, 1), MetricPoint("val", "accuracy_top-1", 45, 91.5, 1)),
        logs=(LogLine("Epoch [1][10/45] loss: 0.5"),),
        checkpoints=(CheckpointRecord("runs/r1/work/epoch_1.pth", 1, 45, 1234, {"accuracy_top-1": 91.5}),),
        events=(Event("running", "started"), Event(None, environment={"seed": 0}), Event("succeeded", early_stopped=True)))


def test_a_batch_survives_a_round_trip_through_json():
    batch = _batch()
    document = _through_json(batch.to_json())
    assert document["version"] == 1 and document["logs"] == ["Epoch [1][10/45] loss: 0.5"]
    assert document["events"][1] == {"status": None, "reason": "", "environment": {"seed": 0}}
    assert IngestBatch.from_json(document) == batch


def test_a_batch_without_a_version_is_version_one():
    document = {k: v for k, v in _batch().to_json().items() if k != "version"}
    assert IngestBatch.from_json(document).version == 1


@pytest.mark.parametrize("change, message", [
    ({"version": 7}, "batch.version: version 7 is not one this side reads (it reads 1)"),
    ({"session": ""}, "batch.session: a non-empty string of at most 64 characters"),
    ({"seq": -1}, "batch.seq: an integer >= 0, not -1"),
    ({"metrics": [{"mode": "val", "name": "x", "step": 1, "value": float("nan")}]},
     "batch.metrics[0].value: A valid number is required."),
    ({"metrics": [{"mode": "test", "name": "x", "step": 1, "value": 1}]}, 'batch.metrics[0].mode: "test" is not'),
    ({"metrics": [{"mode": "val", "name": "n" * 65, "step": 1, "value": 1}]},
     "batch.metrics[0].name: a non-empty string of at most 64 characters"),
    ({"checkpoints": [{"path": "runs/r1/x.pth", "epoch": 1}]}, "batch.checkpoints[0].iteration: an integer >= 0"),
    ({"events": [{"status": "paused"}]}, "batch.events[0].status: one of 'running', 'succeeded', 'failed'"),
    ({"events": [{"reason": "no status"}]}, "batch.events[0].status: required"),
    ({"logs": ["x"] * (MAX_BATCH_ITEMS["logs"] + 1)}, "batch.logs: at most 5000 items a batch, not 5001"),
    ({"extra": []}, "batch: unknown key(s) 'extra'"),
])
def test_it_refuses_a_batch_of_another_version_or_with_a_malformed_item(change, message):
    with pytest.raises(ContractError) as err:
        IngestBatch.from_json({**_batch().to_json(), **change})
    assert str(err.value).startswith(message), str(err.value)


def test_a_long_log_line_goes_in_pieces_and_is_cut_when_read():
    assert [len(p.text) for p in LogLine.pieces("x" * 9000)] == [4000, 4000, 1000]
    assert LogLine.from_json("y" * 5000).text == "y" * 3999 + "…"


@pytest.mark.parametrize("name, facts", [
    ("demo/resnet18-tiny_2xb32-6e_digits.py",
     dict(unit="epoch", length=6, evaluations=6, metric_names=("accuracy_top-1", "accuracy_top-5"),
          primary_metric="accuracy_top-1", primary_mode="max", backbone="ResNet_CIFAR", effective_batch=64)),
    ("lenet/lenet5_mnist.py",
     dict(unit="epoch", length=5, evaluations=1, metric_names=("accuracy_top-1",), primary_metric="accuracy_top-1",
          primary_mode="max", backbone="LeNet5", effective_batch=128)),
    ("csra/resnet101-csra_1xb16_voc07-448px.py",
     dict(unit="epoch", length=20, evaluations=20, metric_names=("mAP", "CP", "OP", "CR", "OR", "CF1", "OF1"),
          primary_metric="mAP", primary_mode="max", backbone="ResNet", effective_batch=16)),
    ("vision_transformer/vit-base-p16_ft-4xb544-ipu_in1k.py",
     dict(unit="iter", length=5000, evaluations=5000, metric_names=("accuracy_top-1", "accuracy_top-5"),
          primary_metric="accuracy_top-1", primary_mode="max", backbone="VisionTransformer")),
])
def test_spec_facts_of_library_specs(name, facts):
    got = spec_facts(jobspecs.load_library(name))
    effective = facts.pop("effective_batch", None)
    assert {key: getattr(got, key) for key in facts} == facts
    if effective is not None:
        assert got.batch.effective_batch == effective
    assert got.sweep is None
    assert SpecFacts.from_json(_through_json(got.to_json())) == got


def test_spec_facts_follow_save_best_rule_and_the_workers():
    spec = jobspecs.load_library("demo/resnet18-tiny_2xb32-6e_digits.py")
    spec["evaluation"] = {"interval": 2, "metric": ["precision", "accuracy", "support"], "save_best": "precision",
                          "metric_options": {"topk": (1, 3), "thrs": (0.5,)}, "rule": "less"}
    spec["resources"]["num_workers"] = 4
    facts = spec_facts(spec)
    assert facts.metric_names == ("accuracy_top-1_thr_0.50", "accuracy_top-3_thr_0.50", "support",
                                  "precision_thr_0.50")
    assert (facts.primary_metric, facts.primary_mode, facts.evaluations) == ("precision", "min", 3)
    assert facts.batch.effective_batch == 128


def test_a_spec_without_val_data_reports_no_metrics():
    spec = jobspecs.load_library("demo/resnet18-tiny_2xb32-6e_digits.py")
    del spec["data"]["val"]
    facts = spec_facts(spec)
    assert (facts.metric_names, facts.primary_metric, facts.evaluations) == ((), None, 0)


def test_sweep_facts_name_the_constraints_a_sweep_breaks():
    spec = jobspecs.load_library("demo/resnet18-tiny_asha-sweep_digits.py")
    facts = spec_facts(spec).sweep
    assert (facts.metric, facts.mode, facts.scheduler, facts.search_alg, facts.problems) == (
        "accuracy_top-1", "max", "asha", "random", ())
    spec["sweep"].update(metric="accuracy_top-10", scheduler="pbt")
    spec["resources"]["strategy"] = "deepspeed"
    problems = spec_facts(spec).sweep.problems
    assert [p.field for p in problems] == ["sweep.scheduler", "sweep.metric"]
    assert problems[1].message == ("sweep.metric 'accuracy_top-10' is not a metric this spec's evaluation reports "
                                   "(accuracy_top-1, accuracy_top-5)")
    assert SpecFacts.from_json(_through_json(spec_facts(spec).to_json())).sweep.problems == problems


def test_it_refuses_spec_facts_of_another_version():
    document = {**spec_facts(jobspecs.load_library("lenet/lenet5_mnist.py")).to_json(), "version": 2}
    with pytest.raises(ContractError, match=r"spec facts.version: version 2 is not one this side reads"):
        SpecFacts.from_json(document)


def test_spec_facts_refuse_a_spec_the_engine_could_not_train():
    with pytest.raises(ContractError, match=r"spec.runner: runner.max_epochs must be a positive int, got None"):
        spec_facts({"runner": {"type": "EpochBasedRunner"}})
