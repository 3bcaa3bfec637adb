"""Entrypoint of an evaluation's Ray Job: ``python -m workers.evaluate.launch evaluations/<id>/job.json``.

The backend writes the job file (the contract's ``Job``: the run's spec on the evaluation's dataset, the
evaluation's folder as the run folder) and ``evaluation.json`` beside it (the checkpoint's key, the split, the
number of workers). The driver starts ``num_workers`` Ray tasks; each scores one contiguous shard of the split
with the engine's ``predict`` (MMCls 0.25's ``multi_gpu_test`` gives each process a shard and gathers them in
dataset order; here the shards are contiguous, so putting them back in order is a concatenation). The driver
writes every sample's scores, label and index once, in dataset order, to ``predictions.npz`` and the class
names, file names and timings to ``result.json``; the backend reads them when Ray reports the job succeeded.

A failure exits non-zero, so Ray marks the job failed and the backend shows the log's last lines.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
import traceback


def shard_bounds(num_samples: int, num_shards: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` ranges covering ``range(num_samples)`` once, as equal as they can be."""
    return [(num_samples * i // num_shards, num_samples * (i + 1) // num_shards) for i in range(num_shards)]


def _split_dataset(spec: dict, split: str):
    from workers.data import build_dataset

    cfg = (spec.get("data") or {}).get(split)
    if cfg is None:
        raise KeyError(f"the spec has no data.{split}")
    return build_dataset(cfg, {"test_mode": True})


def _local_checkpoint(storage, key: str) -> str:
    path = storage.local(key)
    if not storage.is_local and not path.is_file():
        storage.download(key, path)
    return str(path)


def score_shard(cfg: dict, split: str, checkpoint_key: str, shard: int, num_shards: int) -> dict:
    """Score shard ``shard`` of ``num_shards`` (a Ray task's body; runs the same without Ray).

    Returns:
        ``start``, ``stop``, ``scores`` ``(stop - start, C)``, ``labels``, ``files`` and ``classes``.
    """
    import copy

    from workers.apis import init_model
    from workers.data.builder import build_split_loader
    from workers.distributed.launch import confine_worker, prepare_node, service_spec
    from workers.engine.dist import resolve_device
    from workers.engine.predict import predict
    from workers.storage import open_storage

    cfg = prepare_node(cfg, shard)  # on an object store: this node's copy of the dataset
    confine_worker(cfg)
    storage = open_storage(cfg["storage"])
    spec = service_spec(cfg, storage)
    dataset = _split_dataset(spec, split)
    start, stop = shard_bounds(len(dataset), num_shards)[shard]
    part = copy.copy(dataset)  # the same dataset, its annotations cut to this shard
    part.data_infos = dataset.data_infos[start:stop]
    device = resolve_device("cuda" if _has_gpu() else "cpu")
    loader = build_split_loader(part, spec["data"], "test", pin_memory=device.type == "cuda")
    model = init_model(spec, _local_checkpoint(storage, checkpoint_key), device=device)
    scores = predict(model, loader, device) if len(part) else None
    classes = model.CLASSES if model.CLASSES is not None else dataset.CLASSES
    import numpy as np

    return {"start": start, "stop": stop,
            "scores": scores if scores is not None else np.zeros((0, 0), dtype=np.float32),
            "labels": part.get_gt_labels(),
            "files": [_dataset_relative(info, storage.local(cfg["job"].data_key)) for info in part.data_infos],
            "classes": [str(c) for c in classes] if classes is not None else None}


def _dataset_relative(info: dict, data_root) -> str:
    """A sample's image file relative to the dataset's folder ('' for one elsewhere, or none): what the
    evaluation page shows in its galleries, served from the team's dataset."""
    import os

    name = (info.get("img_info") or {}).get("filename")
    if not name:
        return ""
    full = os.path.join(info.get("img_prefix") or "", name)
    rel = os.path.relpath(os.path.realpath(full), os.path.realpath(data_root))
    return "" if rel.startswith("..") or os.path.isabs(rel) else rel.replace(os.sep, "/")


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def gather(parts: list[dict]) -> dict:
    """The shards put back in dataset order; every sample exactly once (raises ``RuntimeError`` otherwise)."""
    import numpy as np

    parts = sorted(parts, key=lambda p: p["start"])
    expected = 0
    for p in parts:
        if p["start"] != expected or len(p["labels"]) != p["stop"] - p["start"]:
            raise RuntimeError(f"shard {p['start']}..{p['stop']} does not follow {expected}: a sample lost or repeated")
        expected = p["stop"]
    with_scores = [p["scores"] for p in parts if len(p["labels"])]
    return {"scores": np.concatenate(with_scores).astype(np.float32) if with_scores else np.zeros((0, 0), np.float32),
            "labels": np.concatenate([p["labels"] for p in parts]).astype(np.int64),
            "index": np.arange(expected, dtype=np.int64),
            "files": [f for p in parts for f in p["files"]],
            "classes": next((p["classes"] for p in parts if p["classes"]), None)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a checkpoint on a dataset split with several Ray workers "
                                                 "(an evaluation's Ray Job entrypoint).")
    parser.add_argument("job_file", help="evaluations/<id>/job.json written by the backend")
    args = parser.parse_args(argv)
    try:
        import numpy as np
        import ray

        from workers.distributed.launch import check_code_version, job_config, read_job, service_spec

        storage, job = read_job(args.job_file)
        check_code_version(job)  # a node at another commit than the service's refuses the job
        folder = job.run_folder
        extra = json.loads(storage.read_text(f"{folder}/evaluation.json"))
        cfg = job_config(storage, job, folder)
        service_spec(cfg, storage)  # refuse a path that leaves its area before any worker starts
        workers = int(extra["num_workers"])
        print(f"[trainyard] evaluation {extra['evaluation_id']}: {workers} worker(s) on data.{extra['split']}",
              file=sys.stderr)
        if not ray.is_initialized():  # a Ray job connects to its cluster (RAY_ADDRESS); a bench starts its own
            ray.init()
        from workers.evaluate.launch import score_shard as by_name  # pickled by reference, not as __main__'s

        task = ray.remote(num_cpus=1)(by_name)
        started = time.monotonic()
        parts = ray.get([task.remote(cfg, extra["split"], extra["checkpoint_key"], i, workers)
                         for i in range(workers)])
        seconds = time.monotonic() - started
        result = gather(parts)
        buf = io.BytesIO()
        np.savez_compressed(buf, scores=result["scores"], labels=result["labels"], index=result["index"])
        storage.write_bytes(f"{folder}/predictions.npz", buf.getvalue())
        storage.write_text(f"{folder}/result.json", json.dumps({
            "classes": result["classes"], "files": result["files"], "num_workers": workers,
            "shards": [[p["start"], p["stop"]] for p in parts], "scoring_seconds": seconds}))
        print(f"[trainyard] scored {len(result['index'])} samples with {workers} worker(s) in {seconds:.1f}s",
              file=sys.stderr)
    except BaseException:
        print(traceback.format_exc(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
