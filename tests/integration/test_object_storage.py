"""TRAINYARD_STORAGE as an object store (S3 through pyarrow; moto's server over HTTP), on a simulated
two-node cluster whose nodes share no folder: each node has a scratch folder of its own.

What must hold on a real cluster without a shared mount: the dataset reaches every node, checkpoints and
logs end up in the bucket, and a run continues from the bucket's checkpoint on nodes that never saw it.
"""
import json
import shutil

import pytest

from tests.support.live import ONE_WORKER
from workers.data.demo import write_digits_dataset
from workers.distributed import launch
from workers.storage import Storage

pytestmark = pytest.mark.integration


@pytest.fixture
def two_nodes_two_scratches(tmp_path, s3_server):
    import ray
    from ray.cluster_utils import Cluster

    scratches = [tmp_path / "node0", tmp_path / "node1"]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                             "env_vars": {"TRAINYARD_SCRATCH": str(scratches[0])}})
    cluster.add_node(num_cpus=1, env_vars={"TRAINYARD_SCRATCH": str(scratches[1])})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    yield scratches
    ray.shutdown()
    cluster.shutdown()


def _job(storage: Storage, epochs: int) -> str:
    import jobspecs

    spec = jobspecs.load_library("demo/resnet18-tiny_2xb32-6e_digits.py",
                                 cfg_options={"runner.max_epochs": epochs, "checkpoint_config.interval": 1})
    job = {"run_id": "r1", "run_key": "runs/r1", "spec": spec, "data_key": "datasets/digits",
           # DeepSpeed ZeRO-2: each rank's optimizer partition is written on its own node (test_multinode.py
           # has DDP over two nodes on a shared folder)
           "resources": {"num_workers": 2, "cpus_per_worker": 1, "strategy": "deepspeed",
                         "deepspeed": {"zero_stage": 2}}, "seed": 0}
    storage.write_text("runs/r1/job.json", json.dumps(job))
    return storage.uri("runs/r1/job.json")


def test_a_deepspeed_run_trains_on_two_nodes_from_a_bucket_and_resumes_there_on_fresh_nodes(
        two_nodes_two_scratches, s3_server, tmp_path, monkeypatch):
    uri = s3_server.uri(s3_server.bucket(), credentials=True)
    monkeypatch.setenv("TRAINYARD_STORAGE", uri)
    monkeypatch.setenv("TRAINYARD_SCRATCH", str(tmp_path / "driver"))  # the driver's node: a third folder
    storage = Storage(uri, scratch=tmp_path / "uploader")
    digits = tmp_path / "uploader" / "datasets" / "digits"
    write_digits_dataset(digits)
    for i, png in enumerate(sorted(digits.rglob("*.png"))):  # a third of it: moto takes ~10 ms a request
        if i % 3:
            png.unlink()
    storage.push_tree(tmp_path / "uploader" / "datasets" / "digits", "datasets/digits")
    shutil.rmtree(tmp_path / "uploader")

    assert launch.main([_job(storage, 1)]) == 0

    placed = [json.loads(storage.read_text(f"runs/r1/workers/rank{r}.json")) for r in (0, 1)]
    assert placed[0]["node_id"] != placed[1]["node_id"]  # one worker on each node
    for scratch in two_nodes_two_scratches:  # each node pulled the dataset into its own scratch
        assert len(list((scratch / "datasets" / "digits" / "train").rglob("*.png"))) > 400
    stored = {e.rel for e in storage.walk("runs/r1/work")}
    assert {"epoch_1.pth", "latest.pth.link"} <= stored
    assert any(name.endswith(".log.json") for name in stored)
    partitions = {name.rsplit("/", 1)[1] for name in stored if name.startswith("deepspeed/epoch_1/")}
    assert {p for p in partitions if "optim_states" in p} == {
        "zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"}, partitions
    assert storage.walk("ray_results"), "Ray Train kept nothing in the bucket"

    # every node forgets the run; a longer schedule continues from the bucket's epoch 1
    for scratch in two_nodes_two_scratches:
        shutil.rmtree(scratch / "runs", ignore_errors=True)
    assert launch.main([_job(storage, 2)]) == 0

    logs = [storage.read_text(f"runs/r1/work/{name}") for name in sorted(stored | {e.rel for e in storage.walk(
        "runs/r1/work")}) if name.endswith(".log.json")]
    val = [json.loads(line) for text in logs for line in text.splitlines() if '"mode": "val"' in line]
    assert [v["epoch"] for v in val] == [1, 2]  # epoch 2 trained once, epoch 1 not again
    assert "epoch_2.pth" in {e.rel for e in storage.walk("runs/r1/work")}
    text_logs = "".join(storage.read_text(f"runs/r1/work/{e.rel}") for e in storage.walk("runs/r1/work")
                        if e.rel.endswith(".log"))
    assert "resumed epoch 1" in text_logs
    assert "restored DeepSpeed checkpoint epoch_1 (optimizer state)" in text_logs  # both partitions reached both


@pytest.fixture(scope="module")
def s3_stack(ray_head, s3_server, tmp_path_factory):
    """The service on PostgreSQL + Redis with ``TRAINYARD_STORAGE`` in a bucket. The backend's scratch and
    the Ray workers' (the default, under the temp dir) are different folders: what the workers read comes
    from the bucket."""
    from tests.support.stack_fixtures import pg_live_stack

    uri = s3_server.uri(s3_server.bucket(), credentials=True)
    var = tmp_path_factory.mktemp("s3stack")
    extra = {"TRAINYARD_STORAGE": uri, "TRAINYARD_SCRATCH": str(var / "backend-scratch")}
    with pg_live_stack(var, ray_head, extra, what="s3_stack") as live:
        live.storage = Storage(uri, scratch=var / "test-scratch")
        yield live
    from workers.storage import default_scratch, strip_credentials

    shutil.rmtree(default_scratch(uri), ignore_errors=True)
    shutil.rmtree(default_scratch(strip_credentials(uri)), ignore_errors=True)  # the jobs' (no credentials)


def test_the_service_keeps_a_runs_files_in_the_bucket_and_serves_them_from_there(s3_stack):
    live, storage = s3_stack, s3_stack.storage
    assert storage.walk("datasets/demo/digits"), "seed_demo did not put the dataset in the bucket"
    run = live.submit(name="on-s3", resources={"num_workers": 2},
                      cfg_options={"runner.max_epochs": 2, "checkpoint_config.interval": 1})
    done = live.wait_for(run["id"], lambda r: r["status"] in ("succeeded", "failed", "cancelled"), 400, "the run")
    assert done["status"] == "succeeded", done["status_reason"] + live.logs_tail()
    assert storage.is_file(f"runs/{run['id']}/job.json")

    ckpts = live.api("GET", f"/api/runs/{run['id']}/checkpoints").json()
    assert ckpts and all(c["path"].startswith(f"runs/{run['id']}/work/") for c in ckpts)
    last = max(ckpts, key=lambda c: c["epoch"])
    assert storage.is_file(last["path"])  # recorded after it reached the bucket
    got = live.api("GET", f"/api/runs/{run['id']}/checkpoints/{last['id']}/download")
    assert got.status_code == 200 and got.content == storage.read_bytes(last["path"])
    logs = " ".join(line["text"] for line in live.api("GET", f"/api/runs/{run['id']}/logs").json())
    assert "testing:testing" not in logs  # the storage's credentials never reach a log

    # a run started from that checkpoint loads it from the bucket: named by the object's URI (as older forks
    # wrote it), the server resolves it to the checkpoint's id, which is what the run keeps and shows
    fork = live.submit(name="from-s3-checkpoint", resources=ONE_WORKER,
                       cfg_options={"runner.max_epochs": 1, "load_from": storage.uri(last["path"])})
    assert fork["resolved_spec"]["load_from"] == f"checkpoint:{last['id']}"
    done = live.wait_for(fork["id"], lambda r: r["status"] in ("succeeded", "failed", "cancelled"), 300, "the fork")
    assert done["status"] == "succeeded", done["status_reason"] + live.logs_tail()
    logs = " ".join(line["text"] for line in live.api("GET", f"/api/runs/{fork['id']}/logs").json())
    # the node's local copy of the object, pulled before training
    assert "load checkpoint from /" in logs and last["path"] in logs and "testing:testing" not in logs

    def losses(run_id):
        points = live.api("GET", f"/api/runs/{run_id}/metrics", params={"name": "loss"}).json()
        return [p["value"] for p in sorted(points, key=lambda p: p["step"])]

    # the fork starts where the run ended, not where a fresh network starts (~ln 10): its first loss is nearer
    # the run's last than the run's first (how far two epochs get varies from run to run; seen in CI: a fork's
    # first loss of 1.86 after a run that started at 2.30)
    trained = losses(run["id"])
    assert trained[-1] < trained[0], trained
    assert losses(fork["id"])[0] < (trained[0] + trained[-1]) / 2, (losses(fork["id"])[:3], trained)


def test_pbt_clones_a_trial_through_the_bucket(s3_stack):
    """PBT with nothing shared but the bucket: the donor's checkpoint goes to Tune's storage there, and
    the clone's adopted checkpoint reaches its trainer's workers from there."""
    from tests.support.sweeps import check_pbt_clones

    check_pbt_clones(s3_stack)
    assert s3_stack.storage.walk("ray_results"), "Ray Tune kept nothing in the bucket"
