"""One description of a reporter batch (``jobspecs.contract.IngestBatch``): the real reporter posts its real
batches to the real ingestion endpoint of a live server and everything it reported is stored; the endpoint's
serializer names the contract's fields, no more and no fewer."""
from dataclasses import MISSING, fields

import pytest

from backend.experiments.models import Checkpoint, LogLine, MetricPoint, RunStatus
from backend.experiments.serializers import (
    IngestBatchSerializer,
    IngestCheckpointSerializer,
    IngestEventSerializer,
    IngestMetricSerializer,
)
from jobspecs import contract
from workers.distributed.reporter import HttpReporter


def _required(item_type) -> set[str]:
    return {f.name for f in fields(item_type) if f.default is MISSING and f.default_factory is MISSING}


@pytest.mark.parametrize("serializer, item_type", [
    (IngestBatchSerializer, contract.IngestBatch), (IngestMetricSerializer, contract.MetricPoint),
    (IngestCheckpointSerializer, contract.CheckpointRecord), (IngestEventSerializer, contract.Event),
])
def test_the_serializer_names_the_contracts_fields(serializer, item_type):
    declared = serializer().fields
    assert set(declared) == {f.name for f in fields(item_type)}
    assert {name for name, f in declared.items() if f.required} == _required(item_type)


def test_the_endpoint_refuses_a_batch_of_another_version(cast):
    run = cast.make_run(status=RunStatus.RUNNING)
    batch = {**contract.IngestBatch("s", 0, logs=(contract.LogLine("x"),)).to_json(), "version": 2}
    r = cast.ingest_client(run).post(f"/api/ingest/{run.pk}", batch, format="json")
    assert r.status_code == 400
    assert r.json()["version"] == ["version 2 is not one this side reads (it reads 1); the service and the "
                                   "workers run different releases"]
    assert not LogLine.objects.filter(run=run).exists()


def test_the_reporters_real_batches_are_stored_by_the_real_endpoint(cast, live_server, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    run = cast.make_run(status=RunStatus.DISPATCHING)
    work = tmp_path / "runs" / str(run.pk) / "work"
    work.mkdir(parents=True)
    (work / "epoch_1.pth").write_bytes(b"0123456789")
    token = cast.ingest_client(run)._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")  # as dispatch issues
    reporter = HttpReporter(f"{live_server.url}/api/ingest/{run.pk}", token,
                            tmp_path / "runs" / str(run.pk) / "spool", storage_root=tmp_path, flush_interval=0.05)

    reporter.event(None, environment={"seed": 7, "python": "3.11"})
    reporter.event("running", "the Ray job started")
    reporter.log("Epoch [1][10/45] loss: 0.5")
    reporter.log("y" * 4500)  # sent in two pieces
    for step in (10, 20, 30, 40):
        reporter.metrics(step, {"loss": 1.0 / step, "lr": 0.1}, epoch=1, mode="train")
    reporter.metrics(45, {"accuracy_top-1": 91.5, "accuracy_top-5": 99.0, "bad": float("nan")}, epoch=1, mode="val")
    reporter.checkpoint(str(work / "epoch_1.pth"), epoch=1, iteration=45, metrics={"accuracy_top-1": 91.5})
    assert reporter.flush(timeout=20)
    reporter.event("succeeded", early_stopped=True)
    assert reporter.close(timeout=20)
    assert not reporter.stop_requested and not list((tmp_path / "runs" / str(run.pk) / "spool").glob("*"))

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.early_stopped
    assert run.environment == {"seed": 7, "python": "3.11"}
    assert run.best_metrics == {"accuracy_top-1": 91.5, "accuracy_top-5": 99.0, "epoch": 1, "step": 45}
    points = MetricPoint.objects.filter(run=run).order_by("mode", "name", "step")
    assert [(p.mode, p.name, p.step, p.epoch) for p in points] == [
        ("train", "loss", 10, 1), ("train", "loss", 20, 1), ("train", "loss", 30, 1), ("train", "loss", 40, 1),
        ("train", "lr", 10, 1), ("train", "lr", 20, 1), ("train", "lr", 30, 1), ("train", "lr", 40, 1),
        ("val", "accuracy_top-1", 45, 1), ("val", "accuracy_top-5", 45, 1)]
    assert [len(t) for t in LogLine.objects.filter(run=run).order_by("pk").values_list("text", flat=True)] == [
        len("Epoch [1][10/45] loss: 0.5"), 4000, 500]
    ckpt = Checkpoint.objects.get(run=run)
    assert (ckpt.path, ckpt.epoch, ckpt.iteration, ckpt.size, ckpt.metrics) == (
        f"runs/{run.pk}/work/epoch_1.pth", 1, 45, 10, {"accuracy_top-1": 91.5})
    assert run.batches.count() >= 2
