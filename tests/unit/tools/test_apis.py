"""The seed's API names in ``workers.apis``: ``single_gpu_test``, ``multi_gpu_test`` (two gloo processes, shards
gathered in dataset order), ``train_model`` (a model and dataset the caller built) and ``show_result_pyplot``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import jobspecs
from workers.apis import (
    inference_model,
    init_model,
    multi_gpu_test,
    show_result_pyplot,
    single_gpu_test,
    train_model,
)
from workers.data import build_dataloader, build_dataset
from workers.engine.checkpoint import load_checkpoint
from workers.models import build_model


def _val_loader(spec: dict, root: Path, batch: int = 4, keep: int | None = None):
    dataset = build_dataset(spec["data"]["test"], {"test_mode": True}, data_root=root)
    dataset.data_infos = dataset.data_infos[:keep]
    return build_dataloader(dataset, batch, 0, shuffle=False)


def _multi_worker(rank: int, world_size: int, tmp: str, spec_file: str, checkpoint: str, root: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world_size)
    try:
        model = init_model(spec_file, checkpoint)
        loader = _val_loader(model.cfg, Path(root), keep=19)  # built in the group: a DistributedSampler
        results = multi_gpu_test(model, loader, progress=False)
        Path(tmp, f"rank{rank}.json").write_text(json.dumps(
            {"local": len(loader.sampler), "results": None if results is None else np.stack(results).tolist()}))
    finally:
        dist.destroy_process_group()


def _train_worker(rank: int, world_size: int, tmp: str, spec_file: str, root: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world_size)
    try:
        cfg = dict(jobspecs.load(spec_file), work_dir=f"{tmp}/work", seed=0)
        cfg["runner"] = {"type": "EpochBasedRunner", "max_epochs": 1}
        dataset = build_dataset(cfg["data"]["train"], data_root=root)
        best = train_model(build_model(cfg["model"]), [dataset], cfg, distributed=True, validate=True,
                           timestamp="20260101_000000", data_root=root)
        Path(tmp, f"rank{rank}.json").write_text(json.dumps(best))
    finally:
        dist.destroy_process_group()


def test_single_gpu_test_gives_the_scores_of_trainyard_test(tiny_run):
    model = init_model(tiny_run.spec_file, tiny_run.checkpoint)
    results = single_gpu_test(model, _val_loader(model.cfg, tiny_run.root), progress=False)
    saved = np.asarray(json.loads(tiny_run.results_json.read_text())["class_scores"], dtype=np.float32)
    assert len(results) == 20 and results[0].shape == (10,)
    np.testing.assert_allclose(np.stack(results), saved, atol=1e-6)


def test_single_gpu_test_saves_each_image_with_its_prediction(tiny_run, tmp_path):
    model = init_model(tiny_run.spec_file, tiny_run.checkpoint)
    single_gpu_test(model, _val_loader(model.cfg, tiny_run.root), out_dir=tmp_path, progress=False)
    saved = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    val = tiny_run.root / "data" / "digits" / "val"
    assert saved == sorted(p.relative_to(val).as_posix() for p in val.rglob("*.png"))  # under their ori_filename


def test_multi_gpu_test_gathers_the_shards_in_dataset_order(tiny_run, tmp_path):
    # forked, the processes start with torch imported (one intra-op thread, see conftest): about 2 s instead of the
    # 50 s two spawned interpreters took to import it on the busy 2-core machine
    mp.start_processes(_multi_worker, args=(2, str(tmp_path), str(tiny_run.spec_file), str(tiny_run.checkpoint),
                                            str(tiny_run.root)), nprocs=2, join=True, start_method="fork")
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["local"] for r in ranks] == [10, 10]  # 19 samples: rank 0 has 0, 2, ..., 18; rank 1 1, ..., 17 and 0
    assert ranks[1]["results"] is None
    saved = np.asarray(json.loads(tiny_run.results_json.read_text())["class_scores"], dtype=np.float32)
    np.testing.assert_allclose(np.asarray(ranks[0]["results"]), saved[:19], atol=1e-6)  # the repeat dropped


def test_multi_gpu_test_needs_a_process_group(tiny_run):
    model = init_model(tiny_run.spec_file, tiny_run.checkpoint)
    with pytest.raises(RuntimeError, match="multi_gpu_test needs an initialised torch.distributed process group"):
        multi_gpu_test(model, _val_loader(model.cfg, tiny_run.root))


def test_train_model_trains_the_callers_model_on_the_callers_dataset(tiny_run, tmp_path):
    cfg = copy.deepcopy(jobspecs.load(str(tiny_run.spec_file)))
    cfg["runner"]["max_epochs"] = 1
    cfg["work_dir"] = str(tmp_path / "work")
    cfg["seed"] = 0
    model = build_model(cfg["model"])
    before = copy.deepcopy(model.state_dict())
    dataset = build_dataset(cfg["data"]["train"], data_root=tiny_run.root)
    subset_size = len(dataset)
    dataset.data_infos = dataset.data_infos[:12]  # the caller's dataset, not the spec's: 2 batches of 6
    best = train_model(model, dataset, cfg, validate=True, timestamp="20260101_000000", meta={"note": "api"},
                       data_root=tiny_run.root)
    assert set(best) == {"accuracy_top-1", "accuracy_top-5", "epoch"} and subset_size == 30
    checkpoint = load_checkpoint(tmp_path / "work" / "epoch_1.pth")
    assert checkpoint["meta"]["note"] == "api" and checkpoint["meta"]["CLASSES"] == [str(d) for d in range(10)]
    trained = model.state_dict()
    assert all(torch.equal(checkpoint["state_dict"][k], v) for k, v in trained.items())  # the caller's object
    assert not all(torch.equal(before[k], v) for k, v in trained.items())
    records = [json.loads(line) for line in (tmp_path / "work" / "20260101_000000.log.json").read_text().splitlines()]
    assert [r["iter"] for r in records if r["mode"] == "train"] == [1, 2]


def test_train_model_trains_in_a_process_group(tiny_run, tmp_path):
    mp.start_processes(_train_worker, args=(2, str(tmp_path), str(tiny_run.spec_file), str(tiny_run.root)),
                       nprocs=2, join=True, start_method="fork")  # forked: see the multi_gpu_test test
    best = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert best[0] == best[1] and best[0]["epoch"] == 1
    log = (tmp_path / "work" / "20260101_000000.log").read_text()
    # 30 train images, 15 a rank, batches of 6: 3 iterations an epoch
    assert "world size 2" in log and "Epoch [1][3/3]" in log


def test_train_model_needs_a_work_dir(tiny_run):
    cfg = jobspecs.load(str(tiny_run.spec_file))
    with pytest.raises(KeyError, match="cfg has no work_dir"):
        train_model(build_model(cfg["model"]), None, cfg)


def test_show_result_pyplot_draws_the_result(tiny_run):
    model = init_model(tiny_run.spec_file, tiny_run.checkpoint)
    image = sorted((tiny_run.root / "data" / "digits" / "val" / "4").iterdir())[0]
    result = inference_model(model, str(image))
    drawn = show_result_pyplot(model, str(image), result)  # Agg: nothing opens
    assert drawn.shape == (224, 224, 3) and drawn[:20, :40].max() > 200
