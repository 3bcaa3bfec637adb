"""Which checkpoints a run's page and ``GET /api/runs/<id>/checkpoints`` call available: the files a download
would serve, found in one listing of the run's folder (issue #14)."""
import os

from backend.experiments.models import Checkpoint, RunStatus


def _rows(run, names):
    return [Checkpoint.objects.create(run=run, path=f"runs/{run.pk}/work/{name}", epoch=i, iteration=10 * i)
            for i, name in enumerate(names, 1)]


def test_it_marks_stored_files_and_links_inside_the_run_folder_available(cast, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    run, other = cast.make_run(status=RunStatus.SUCCEEDED), cast.make_run(status=RunStatus.SUCCEEDED)
    work, elsewhere = tmp_path / "runs" / str(run.pk) / "work", tmp_path / "runs" / str(other.pk) / "work"
    work.mkdir(parents=True)
    elsewhere.mkdir(parents=True)
    (work / "epoch_1.pth").write_bytes(b"w")
    (elsewhere / "epoch_9.pth").write_bytes(b"theirs")
    os.symlink("epoch_1.pth", work / "latest.pth")  # what the engine makes beside its checkpoints
    os.symlink(elsewhere / "epoch_9.pth", work / "borrowed.pth")  # leads out of the run's folder
    rows = _rows(run, ["epoch_1.pth", "epoch_2.pth", "latest.pth", "borrowed.pth"])
    listed = cast.clients["viewer"].get(f"/api/runs/{run.pk}/checkpoints").json()
    assert [(c["filename"], c["available"]) for c in listed] == [
        ("epoch_1.pth", True), ("epoch_2.pth", False), ("latest.pth", True), ("borrowed.pth", False)]
    for row, entry in zip(rows, listed, strict=True):
        r = cast.clients["viewer"].get(f"/api/runs/{run.pk}/checkpoints/{row.pk}/download")
        assert r.status_code == (200 if entry["available"] else 404)


def test_it_calls_nothing_available_in_a_run_folder_that_is_a_link(cast, settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path / "storage"
    run = cast.make_run(status=RunStatus.SUCCEEDED)
    outside = tmp_path / "outside" / "work"
    outside.mkdir(parents=True)
    (outside / "epoch_1.pth").write_bytes(b"w")
    (tmp_path / "storage" / "runs").mkdir(parents=True)
    os.symlink(tmp_path / "outside", tmp_path / "storage" / "runs" / str(run.pk))
    _rows(run, ["epoch_1.pth"])
    listed = cast.clients["owner"].get(f"/api/runs/{run.pk}/checkpoints").json()
    assert [c["available"] for c in listed] == [False]
