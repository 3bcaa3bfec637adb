from workers.distributed.launch import rebase_data_paths


def test_it_points_mmcls_data_paths_at_the_registered_dataset():
    spec = {"data": {
        "train": {"type": "CustomDataset", "data_prefix": "data/digits/train", "pipeline": [{"type": "X"}]},
        "val": {"type": "ImageNet", "data_prefix": "val", "ann_file": "data/imagenet/meta/val.txt"},
        "test": {"type": "RepeatDataset", "times": 2,
                 "dataset": {"type": "CustomDataset", "data_prefix": "/abs/path", "classes": "data/x/classes.txt"}},
    }}
    out = rebase_data_paths(spec, "/storage/datasets/digits")
    assert out["data"]["train"]["data_prefix"] == "/storage/datasets/digits/train"
    assert out["data"]["val"]["data_prefix"] == "/storage/datasets/digits/val"
    assert out["data"]["val"]["ann_file"] == "/storage/datasets/digits/meta/val.txt"
    assert out["data"]["test"]["dataset"]["data_prefix"] == "/abs/path"
    assert out["data"]["test"]["dataset"]["classes"] == "/storage/datasets/digits/classes.txt"
    assert spec["data"]["train"]["data_prefix"] == "data/digits/train"  # the stored spec is untouched
