"""One run's DDP workers on two Ray nodes (a simulated cluster on this machine), training together.

Storage is "shared" because both nodes are on this machine; on a real cluster TRAINYARD_STORAGE is
a mount every node has.
"""
import json

import pytest

from workers.data.demo import write_digits_dataset
from workers.distributed import launch

pytestmark = pytest.mark.integration


@pytest.fixture
def two_node_cluster():
    import ray
    from ray.cluster_utils import Cluster

    # one CPU per node: the two single-CPU workers cannot share a node
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_it_spreads_one_runs_workers_over_two_nodes_and_they_train_together(two_node_cluster, tmp_path):
    import jobspecs

    data = tmp_path / "datasets" / "digits"
    write_digits_dataset(data)
    spec = jobspecs.load_library("demo/resnet18-tiny_2xb32-6e_digits.py", cfg_options={"runner.max_epochs": 4})
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    job = {"run_id": "r1", "run_key": "runs/r1", "spec": spec, "data_key": "datasets/digits",
           "resources": {"num_workers": 2, "cpus_per_worker": 1}, "seed": 0}
    (run_dir / "job.json").write_text(json.dumps(job))

    assert launch.main([str(run_dir / "job.json")]) == 0

    placed = [json.loads((run_dir / "workers" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert {p["world_size"] for p in placed} == {2}
    assert placed[0]["node_id"] != placed[1]["node_id"]  # one worker on each node
    log = next((run_dir / "work").glob("*.log.json")).read_text().splitlines()
    val = [json.loads(line) for line in log if '"mode": "val"' in line]
    assert [v["epoch"] for v in val] == [1, 2, 3, 4]
    assert val[-1]["accuracy_top-1"] > 70.0  # the two halves of each batch trained one model
    assert (run_dir / "work" / "epoch_4.pth").exists()
