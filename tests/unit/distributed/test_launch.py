"""The paths a service worker trains with: a stored spec rebased into the run's dataset and folder."""
import pytest

from jobspecs.contract import Job
from jobspecs.paths import PathPolicyError
from workers.distributed.launch import job_config, service_spec
from workers.storage import open_storage


def _cfg(tmp_path, spec, **job):
    storage = open_storage(str(tmp_path))
    (tmp_path / "datasets" / "demo" / "digits").mkdir(parents=True)
    job = Job.from_json({"run_id": "r1", "spec": spec, "data_key": "datasets/demo/digits", **job})
    return job_config(storage, job, "runs/r1")


def test_it_points_mmcls_data_paths_at_the_registered_dataset(tmp_path):
    spec = {"data": {
        "train": {"type": "CustomDataset", "data_prefix": "data/digits/train", "pipeline": [{"type": "X"}]},
        "val": {"type": "ImageNet", "data_prefix": "val", "ann_file": "data/imagenet/meta/val.txt"},
        "test": {"type": "RepeatDataset", "times": 2,
                 "dataset": {"type": "CustomDataset", "data_prefix": "x", "classes": "data/x/classes.txt"}},
    }}
    out = service_spec(_cfg(tmp_path, spec))
    root = tmp_path / "datasets" / "demo" / "digits"
    assert out["data"]["train"]["data_prefix"] == str(root / "train")
    assert out["data"]["val"]["data_prefix"] == str(root / "val")
    assert out["data"]["val"]["ann_file"] == str(root / "meta" / "val.txt")
    assert out["data"]["test"]["dataset"]["classes"] == str(root / "classes.txt")
    assert spec["data"]["train"]["data_prefix"] == "data/digits/train"  # the stored spec is untouched


def test_it_puts_outputs_in_the_runs_folder_and_checkpoints_where_the_server_resolved_them(tmp_path):
    spec = {"checkpoint_config": {"out_dir": "ckpts"}, "load_from": "checkpoint:7",
            "log_config": {"hooks": [{"type": "TensorboardLoggerHook", "log_dir": "tb"}]}}
    out = service_spec(_cfg(tmp_path, spec, checkpoints={"checkpoint:7": "runs/r0/work/epoch_2.pth"}))
    assert out["checkpoint_config"]["out_dir"] == str(tmp_path / "runs" / "r1" / "ckpts")
    assert out["log_config"]["hooks"][0]["log_dir"] == str(tmp_path / "runs" / "r1" / "tb")
    assert out["load_from"] == str(tmp_path / "runs" / "r0" / "work" / "epoch_2.pth")


@pytest.mark.parametrize("spec, message", [
    ({"data": {"train": {"data_prefix": "/etc"}}}, "data.train.data_prefix '/etc' is an absolute path"),
    ({"data": {"train": {"ann_file": "data/x/../../../../runs/r0/job.json"}}}, "goes up with '..'"),
    ({"checkpoint_config": {"out_dir": "../r0/work"}}, "checkpoint_config.out_dir '../r0/work' goes up"),
    ({"load_from": "/storage/runs/r0/work/latest.pth"}, "is not a checkpoint the service resolved"),
    ({"load_from": "checkpoint:8"}, "'checkpoint:8' is not a checkpoint the service resolved"),
])
def test_it_refuses_a_job_whose_paths_leave_their_area(tmp_path, spec, message):
    with pytest.raises(PathPolicyError, match=message.replace("(", r"\(").replace(".", r"\.")):
        service_spec(_cfg(tmp_path, spec))


def test_it_refuses_a_data_path_that_a_link_in_the_dataset_leads_out_of_it(tmp_path):
    cfg = _cfg(tmp_path, {"data": {"train": {"type": "CustomDataset", "data_prefix": "escape/train"}}})
    (tmp_path / "datasets" / "demo" / "digits" / "escape").symlink_to(tmp_path / "runs", target_is_directory=True)
    with pytest.raises(PathPolicyError, match="data.train.data_prefix leaves its area"):
        service_spec(cfg)
