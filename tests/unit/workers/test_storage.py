"""workers/storage.py on a path and on a real S3 endpoint (moto's server over HTTP)."""
from __future__ import annotations

import os
import time

import pytest
import torch

from workers.engine.checkpoint import find_latest_checkpoint
from workers.storage import (
    Storage,
    StorageError,
    fetched,
    is_uri,
    pull_work_dir,
    push_work_dir,
)


def test_paths_and_uris_are_told_apart():
    assert not is_uri("/srv/trainyard") and not is_uri("var/storage") and not is_uri("file:///srv/x")
    assert is_uri("s3://bucket/prefix") and is_uri("gs://b/p")


def test_keys_cannot_leave_the_storage(tmp_path):
    storage = Storage(tmp_path)
    assert storage.key("runs", "a/b.json") == "runs/a/b.json"
    for bad in ("../etc/passwd", "/etc/passwd", "runs/../../x"):
        with pytest.raises(StorageError):
            storage.key(bad)


def test_a_path_storage_is_its_own_scratch(tmp_path):
    storage = Storage(tmp_path)
    storage.write_text("runs/1/job.json", "{}")
    assert (tmp_path / "runs/1/job.json").read_text() == "{}"
    assert storage.local("runs/1") == tmp_path / "runs/1"
    assert storage.uri("runs/1/job.json") == str(tmp_path / "runs/1/job.json")
    assert storage.relative(tmp_path / "runs/1/work/epoch_1.pth") == "runs/1/work/epoch_1.pth"
    assert storage.relative("/elsewhere/x") is None
    # nothing to copy: the work dir is on the storage already
    assert push_work_dir(storage, tmp_path / "runs/1/work", "runs/1/work", authority=True) == []


def test_objects_round_trip_on_s3(s3_uri):
    storage = Storage(s3_uri)
    assert not storage.is_local
    storage.write_text("runs/1/job.json", '{"a": 1}')
    assert storage.read_text("runs/1/job.json") == '{"a": 1}'
    assert storage.is_file("runs/1/job.json") and storage.is_dir("runs/1") and not storage.is_file("runs/2/x")
    uri = storage.uri("runs/1/job.json")
    assert uri.startswith("s3://") and "endpoint_override=" in uri
    assert storage.relative(uri) == "runs/1/job.json"
    assert storage.relative(storage.local("runs/1/work/epoch_2.pth")) == "runs/1/work/epoch_2.pth"
    with storage.open_read("runs/1/job.json") as f:
        assert f.read() == b'{"a": 1}'
    storage.remove("runs/1")
    assert storage.info("runs/1/job.json") is None


def test_a_bad_uri_says_what_is_wrong():
    with pytest.raises(StorageError, match="nosuch://"):
        Storage("nosuch://bucket/x")


def _save(path, value):
    torch.save({"state_dict": {"w": torch.tensor([float(value)])}, "meta": {"epoch": value}}, path)


def _work_dir(folder, epochs):
    folder.mkdir(parents=True, exist_ok=True)
    for epoch in epochs:
        _save(folder / f"epoch_{epoch}.pth", epoch)
    latest = folder / "latest.pth"
    latest.unlink(missing_ok=True)
    latest.symlink_to(f"epoch_{max(epochs)}.pth")
    (folder / "20261205.log").write_text("epoch lines\n")


def test_a_work_dir_goes_up_and_comes_back_on_another_node(s3_uri, tmp_path):
    storage = Storage(s3_uri)
    node_a, node_b = tmp_path / "a" / "work", tmp_path / "b" / "work"
    _work_dir(node_a, [1, 2])
    sent = push_work_dir(storage, node_a, "runs/r/work", authority=True)
    assert set(sent) == {"epoch_1.pth", "epoch_2.pth", "20261205.log"}
    # unchanged files are not sent again
    assert push_work_dir(storage, node_a, "runs/r/work", authority=True) == []

    pull_work_dir(storage, node_b, "runs/r/work")
    latest = find_latest_checkpoint(node_b)
    assert latest is not None and latest.is_symlink() and os.readlink(latest) == "epoch_2.pth"
    assert torch.load(latest, weights_only=True)["meta"]["epoch"] == 2

    # rank 0 rotates epoch_1 out and saves epoch_3: the storage follows, and a pull drops the stale file
    (node_a / "epoch_1.pth").unlink()
    _work_dir(node_a, [2, 3])
    assert "epoch_3.pth" in push_work_dir(storage, node_a, "runs/r/work", authority=True)
    assert {e.rel for e in storage.walk("runs/r/work")} == {"epoch_2.pth", "epoch_3.pth", "latest.pth.link",
                                                              "20261205.log"}
    pull_work_dir(storage, node_b, "runs/r/work")
    assert sorted(p.name for p in node_b.glob("epoch_*.pth")) == ["epoch_2.pth", "epoch_3.pth"]
    assert torch.load(find_latest_checkpoint(node_b), weights_only=True)["meta"]["epoch"] == 3


def test_a_rewritten_file_is_sent_again(s3_uri, tmp_path):
    storage = Storage(s3_uri)
    folder = tmp_path / "work"
    _work_dir(folder, [1])
    push_work_dir(storage, folder, "runs/r/work", authority=True)
    time.sleep(0.01)
    _save(folder / "epoch_1.pth", 7)  # same size, new content (a PBT clone adopting another trial's epoch 1)
    assert push_work_dir(storage, folder, "runs/r/work", authority=True) == ["epoch_1.pth"]
    other = tmp_path / "other"
    pull_work_dir(storage, other, "runs/r/work")
    assert torch.load(other / "epoch_1.pth", weights_only=True)["meta"]["epoch"] == 7


def test_only_rank_0_removes_and_never_another_nodes_partitions(s3_uri, tmp_path):
    storage = Storage(s3_uri)
    node0, node1 = tmp_path / "n0", tmp_path / "n1"
    _work_dir(node0, [1])
    (node0 / "deepspeed" / "epoch_1").mkdir(parents=True)
    (node0 / "deepspeed" / "epoch_1" / "zero_pp_rank_0_optim_states.pt").write_bytes(b"r0")
    (node1 / "deepspeed" / "epoch_1").mkdir(parents=True)
    (node1 / "deepspeed" / "epoch_1" / "zero_pp_rank_1_optim_states.pt").write_bytes(b"r1")
    push_work_dir(storage, node0, "w", authority=True)
    push_work_dir(storage, node1, "w", authority=False)
    push_work_dir(storage, node0, "w", authority=True)  # rank 0 lacks rank 1's partition: it stays
    assert {"deepspeed/epoch_1/zero_pp_rank_0_optim_states.pt",
            "deepspeed/epoch_1/zero_pp_rank_1_optim_states.pt"} <= {e.rel for e in storage.walk("w")}
    # a fresh node gets every partition of the tag
    fresh = tmp_path / "fresh"
    pull_work_dir(storage, fresh, "w")
    assert sorted(p.name for p in (fresh / "deepspeed" / "epoch_1").iterdir()) == [
        "zero_pp_rank_0_optim_states.pt", "zero_pp_rank_1_optim_states.pt"]
    # the tag is rotated out on rank 0: the whole tag folder goes from the storage
    import shutil
    shutil.rmtree(node0 / "deepspeed" / "epoch_1")
    (node0 / "epoch_1.pth").unlink()
    _work_dir(node0, [2])
    push_work_dir(storage, node0, "w", authority=True)
    assert not [e for e in storage.walk("w") if e.rel.startswith("deepspeed/epoch_1/")]


def test_a_dataset_is_pulled_once_per_node(s3_uri, tmp_path):
    storage = Storage(s3_uri)
    src = tmp_path / "digits"
    for split, n in (("train", 3), ("val", 2)):
        (src / split / "0").mkdir(parents=True)
        for i in range(n):
            (src / split / "0" / f"{i}.png").write_bytes(b"png" * (i + 1))
    storage.push_tree(src, "datasets/digits")
    assert len(storage.pull_tree("datasets/digits")) == 5
    assert (storage.local("datasets/digits") / "val/0/1.png").read_bytes() == b"pngpng"
    assert storage.pull_tree("datasets/digits") == []  # already there


def test_load_from_an_object_store_uri_is_fetched(s3_uri, tmp_path):
    storage = Storage(s3_uri)
    _save(tmp_path / "w.pth", 5)
    storage.upload(tmp_path / "w.pth", "runs/r/work/epoch_5.pth")
    with fetched(storage.uri("runs/r/work/epoch_5.pth")) as local:
        assert torch.load(local, weights_only=True)["meta"]["epoch"] == 5
    assert not os.path.exists(local)
    with fetched(str(tmp_path / "w.pth")) as local:  # a path stays a path
        assert local == str(tmp_path / "w.pth")


def test_credentials_in_a_uri_are_kept_for_use_and_masked_for_display(s3_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINYARD_SCRATCH", str(tmp_path))
    storage = Storage(s3_server.uri(s3_server.bucket(), credentials=True))
    storage.write_text("a.txt", "x")
    uri = storage.uri("a.txt")
    assert uri.startswith("s3://testing:testing@") and storage.relative(uri) == "a.txt"
    with fetched(uri) as local:  # what a forked run's load_from gets
        assert open(local).read() == "x"
    assert "testing:testing" not in storage.display and "***@" in storage.display
    assert "testing:testing" not in repr(storage)
