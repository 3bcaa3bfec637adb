"""Build datasets from specs and data loaders from datasets (distributed-aware)."""

from __future__ import annotations

import copy
import ctypes
import os
import sys
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, get_worker_info

from workers.data.batch_memory import MIN_POOLED_BYTES, BatchMemory, LeasedBatch
from workers.data.datasets import ConcatDataset
from workers.data.samplers import build_sampler
from workers.data.transforms.compose import Compose
from workers.data.transforms.normalize import DEFERRED_KEY, normalize_tensor, prepare_images
from workers.registry import DATASETS

__all__ = ["WorkerCollate", "build_dataloader", "build_dataset", "build_split_loader", "collate", "fuse_normalize",
           "init_loader_worker", "loader_options", "loader_settings", "prepare_images", "resolve_paths"]

# batches of one worker that the training process may hold at once besides its prefetched ones: the one being
# consumed, the one arriving, and one more whose release is only seen when the next batch arrives
_HELD_BATCHES = 3

_PATH_KEYS = ("data_prefix", "ann_file", "classes", "image_class_labels_file", "train_test_split_file")


def resolve_paths(cfg: dict, data_root: str | os.PathLike | None) -> dict:
    """A copy of a dataset config whose relative ``data_prefix``/``ann_file``/``classes`` file (and CUB's
    ``image_class_labels_file``/``train_test_split_file``) lie under
    ``data_root`` (nested ``dataset``/``datasets`` of wrappers too). Without ``data_root`` nothing changes,
    so relative paths stay relative to the current directory, as in MMCls."""
    cfg = copy.deepcopy(cfg)
    if data_root is None:
        return cfg
    root = os.fspath(data_root)
    for key in _PATH_KEYS:
        value = cfg.get(key)
        if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
            cfg[key] = os.path.join(root, value)
    if isinstance(cfg.get("dataset"), dict):
        cfg["dataset"] = resolve_paths(cfg["dataset"], data_root)
    if isinstance(cfg.get("datasets"), (list, tuple)):
        cfg["datasets"] = [resolve_paths(c, data_root) for c in cfg["datasets"]]
    return cfg


def build_dataset(cfg: dict | Sequence[dict], default_args: dict | None = None, *,
                  data_root: str | os.PathLike | None = None):
    """Build a dataset from its config; a list of configs gives their concatenation.

    Args:
        cfg: E.g. ``spec['data']['train']``.
        default_args: Keyword arguments used where ``cfg`` does not set them (e.g. ``test_mode``).
        data_root: Folder that relative paths in the config are resolved against.
    """
    if isinstance(cfg, (list, tuple)):
        return ConcatDataset([build_dataset(c, default_args, data_root=data_root) for c in cfg])
    cfg = resolve_paths(cfg, data_root)
    if cfg.get("type") == "RepeatDataset":
        return DATASETS.get("RepeatDataset")(build_dataset(cfg["dataset"], default_args), cfg["times"])
    if cfg.get("type") == "ConcatDataset":
        return ConcatDataset([build_dataset(c, default_args) for c in cfg["datasets"]])
    if cfg.get("type") == "ClassBalancedDataset":
        return DATASETS.get("ClassBalancedDataset")(build_dataset(cfg["dataset"], default_args),
                                                    cfg["oversample_thr"])
    if cfg.get("type") == "KFoldDataset":
        # as MMCls: the wrapper takes test_mode (which half of the split); the inner dataset is built
        # without it, since both halves come from the same (training) data
        inner_args = dict(default_args or {})
        test_mode = cfg.get("test_mode")
        if test_mode is None:
            test_mode = inner_args.pop("test_mode", False)
        else:
            inner_args.pop("test_mode", None)
        kwargs = {k: v for k, v in cfg.items() if k not in ("type", "dataset", "test_mode")}
        return DATASETS.get("KFoldDataset")(build_dataset(cfg["dataset"], inner_args), test_mode=test_mode,
                                            **kwargs)
    return DATASETS.build(cfg, **(default_args or {}))


def _pipelines(dataset, seen: set[int] | None = None):
    """The ``Compose`` pipelines of a dataset and of the datasets it wraps (``dataset``/``datasets``)."""
    seen = set() if seen is None else seen
    if id(dataset) in seen:
        return
    seen.add(id(dataset))
    pipeline = getattr(dataset, "pipeline", None)
    if isinstance(pipeline, Compose):
        yield pipeline
    inner = getattr(dataset, "dataset", None)
    if inner is not None:
        yield from _pipelines(inner, seen)
    for inner in getattr(dataset, "datasets", None) or ():
        yield from _pipelines(inner, seen)


def fuse_normalize(dataset, enabled: bool = True) -> bool:
    """Defer (``enabled``) the ``Normalize`` of the dataset's pipelines (wrapped datasets included) to the
    batch where only formatting steps follow it (:meth:`Compose.fuse_normalize`); ``enabled=False`` turns
    it back to per-image normalisation. Returns whether any pipeline defers it."""
    return any([pipeline.fuse_normalize(enabled) for pipeline in _pipelines(dataset)])


def _normalize_sample(sample: dict) -> dict:
    """Apply a sample's deferred normalisation to it (batches that cannot carry it: ragged images,
    samples of pipelines with different normalisations)."""
    deferred = sample.pop(DEFERRED_KEY)
    for key, channel_dim in deferred.channel_dims:
        value = sample.get(key)
        if isinstance(value, torch.Tensor):
            sample[key] = normalize_tensor(value, deferred.mean, deferred.std, deferred.to_rgb, channel_dim)
        elif isinstance(value, np.ndarray):
            tensor = torch.from_numpy(np.ascontiguousarray(value))
            sample[key] = normalize_tensor(tensor, deferred.mean, deferred.std, deferred.to_rgb,
                                           channel_dim).numpy()
    return sample


def _stack(values: list[torch.Tensor], memory: BatchMemory | None = None, leases: list | None = None,
           key: str = "") -> torch.Tensor:
    """``torch.stack`` straight into shared memory inside a loader worker (so that sending the batch to
    the training process needs no further copy): into a block of ``memory`` that the training process no
    longer uses where there is one (its lease, with ``key``, is appended to ``leases``), else a fresh one."""
    out = None
    info = get_worker_info()
    if info is not None:
        first = values[0]
        nbytes = len(values) * first.numel() * first.element_size()
        taken = None
        if memory is not None and leases is not None and first.device.type == "cpu" and nbytes >= MIN_POOLED_BYTES:
            taken = memory.take(info.id, nbytes)
        if taken is not None:
            storage, lease = taken
            leases.append((*lease, key))
        else:
            storage = first.untyped_storage()._new_shared(nbytes, device=first.device)
        out = torch.empty((0,), dtype=first.dtype, device=first.device).set_(storage, 0, (len(values), *first.shape))
    return torch.stack(values, out=out)


def collate(batch: list[dict]) -> dict:
    """Batch a list of result dicts: equal-shaped tensors are stacked, numbers become tensors, anything
    else (``img_metas``, ragged tensors) stays a list.

    A deferred normalisation (``deferred_norm``, see ``Compose.fuse_normalize``) shared by every sample
    stays deferred: the batch keeps its images as they are (uint8) and the ``DeferredNorm`` under
    ``deferred_norm``, for :func:`~workers.data.transforms.normalize.prepare_images`. Where it cannot (the
    images do not stack, or the samples differ in it) each sample is normalised here instead.
    """
    return _collate(batch, None)


class WorkerCollate:
    """The ``collate_fn`` of a loader with worker processes: :func:`collate`, stacking the images into
    blocks of shared memory that each worker reuses (:mod:`workers.data.batch_memory`).

    Args:
        memory: The loader's :class:`~workers.data.batch_memory.BatchMemory`.
    """

    def __init__(self, memory: BatchMemory):
        self.memory = memory

    def __call__(self, batch: list[dict]) -> dict:
        return _collate(batch, self.memory)


def _collate(batch: list[dict], memory: BatchMemory | None) -> dict:
    """:func:`collate`; in a loader worker with ``memory``, a :class:`LeasedBatch` where images went into
    reused blocks."""
    if not batch:
        return {}
    deferred = [sample.get(DEFERRED_KEY) for sample in batch]
    if any(d is not None for d in deferred):
        first = deferred[0]
        keep = first is not None and all(d == first for d in deferred)
        if keep:
            for key in first.keys:
                values = [sample.get(key) for sample in batch]
                if not all(isinstance(v, torch.Tensor) and v.shape == values[0].shape for v in values):
                    keep = False
        if not keep:
            batch = [_normalize_sample(dict(sample)) if sample.get(DEFERRED_KEY) is not None else sample
                     for sample in batch]
    out = {}
    leases: list = []
    for key in batch[0]:
        values = [sample[key] for sample in batch]
        first = values[0]
        if key == DEFERRED_KEY:
            out[key] = first
        elif isinstance(first, torch.Tensor) and all(v.shape == first.shape for v in values):
            out[key] = _stack(values, memory, leases, key)
        elif isinstance(first, (int, float)) and not isinstance(first, bool):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return LeasedBatch(out, leases) if leases else out


# the keys of `data` that every loader inherits unless its `<split>_dataloader` dict sets them
_SHARED_LOADER_KEYS = ("samples_per_gpu", "workers_per_gpu", "pin_memory", "persistent_workers", "prefetch_factor",
                       "fuse_normalize")


def loader_settings(data: dict, split: str, *, pin_memory: bool = False) -> dict:
    """The loader keys of ``data``, overridden by ``data.<split>_dataloader``, with their defaults:
    ``workers_per_gpu`` 2, ``pin_memory`` the given default (on with CUDA), ``persistent_workers`` on when
    there are workers, ``prefetch_factor`` 2 and ``fuse_normalize`` on (the batch is normalised in one
    tensor operation, see ``workers.data.transforms.normalize``). The engine's loaders, ``trainyard test`` and
    the evaluation jobs' shards all read the spec through it."""
    args = {key: data[key] for key in _SHARED_LOADER_KEYS if key in data and data[key] is not None}
    args.update({key: value for key, value in (data.get(f"{split}_dataloader") or {}).items() if value is not None})
    args.setdefault("workers_per_gpu", 2)
    if "samples_per_gpu" not in args:
        raise KeyError("data.samples_per_gpu is missing")
    args.setdefault("pin_memory", pin_memory)
    args.setdefault("persistent_workers", args["workers_per_gpu"] > 0)
    args.setdefault("prefetch_factor", 2)
    args.setdefault("fuse_normalize", True)
    return args


def loader_options(args: dict) -> dict:
    """``build_dataloader``'s keyword arguments of a loader's :func:`loader_settings`."""
    return {"pin_memory": bool(args["pin_memory"]), "persistent_workers": bool(args["persistent_workers"]),
            "prefetch_factor": int(args["prefetch_factor"]), "fuse_normalize": bool(args["fuse_normalize"])}


def build_split_loader(dataset, data: dict, split: str, *, pin_memory: bool = False) -> DataLoader:
    """The unshuffled loader of an evaluation split (``'val'`` or ``'test'``) as the spec's ``data`` sets it
    (:func:`loader_settings`): what the engine evaluates with, ``trainyard test`` scores with and each shard of
    an evaluation job reads."""
    args = loader_settings(data, split, pin_memory=pin_memory)
    return build_dataloader(dataset, args["samples_per_gpu"], args["workers_per_gpu"], shuffle=False,
                            **loader_options(args))


def build_dataloader(dataset, samples_per_gpu: int, workers_per_gpu: int, shuffle: bool = True,
                     seed: int | None = None, drop_last: bool = False, *, round_up: bool = True,
                     pin_memory: bool = False, persistent_workers: bool = False, prefetch_factor: int | None = None,
                     fuse_normalize: bool = False, sampler_cfg: dict | None = None) -> DataLoader:
    """A DataLoader with per-process batch size ``samples_per_gpu``.

    When ``torch.distributed`` is initialised, a ``DistributedSampler`` gives each rank its share (the
    engine calls ``sampler.set_epoch``); with ``round_up`` the last samples are repeated so that every
    rank gets as many (evaluation drops the repeats again).

    Args:
        dataset: The dataset.
        samples_per_gpu: Batch size of each process.
        workers_per_gpu: Loader worker processes of each process.
        shuffle: Shuffle every epoch.
        seed: Seed of the sampler's shuffle.
        drop_last: Drop the last incomplete batch.
        round_up: Pad the distributed split to equal lengths (``False`` drops the tail instead).
        pin_memory: Pin batches in page-locked memory (for CUDA).
        persistent_workers: Keep worker processes between epochs (only with workers).
        prefetch_factor: Batches each worker loads ahead (only with workers; ``None``: PyTorch's 2).
        fuse_normalize: Defer the pipelines' ``Normalize`` to the batch where only formatting steps follow
            it (see :func:`fuse_normalize`): the loader then yields uint8 images plus ``deferred_norm``,
            and :func:`prepare_images` gives the normalised batch. ``False`` sets per-image normalisation.
        sampler_cfg: The spec's ``sampler`` (e.g. ``dict(type='RepeatAugSampler')``, training loaders
            only, as MMCls): it replaces the default sampler, with or without a process group.
    """
    _fuse_normalize(dataset, fuse_normalize)
    sampler = None
    generator = None
    distributed = dist.is_available() and dist.is_initialized()
    if sampler_cfg:
        num_replicas, rank = (dist.get_world_size(), dist.get_rank()) if distributed else (1, 0)
        sampler = build_sampler(sampler_cfg, dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                                seed=seed or 0)
        shuffle = False
    elif distributed:
        sampler = DistributedSampler(dataset, num_replicas=dist.get_world_size(), rank=dist.get_rank(),
                                     shuffle=shuffle, seed=seed or 0, drop_last=not round_up)
        shuffle = False
    elif shuffle and seed is not None:
        generator = torch.Generator()
        generator.manual_seed(seed)
    collate_fn = collate
    if workers_per_gpu > 0:
        # blocks for the batches a worker has in flight, plus those the consumer still holds
        blocks = (prefetch_factor or 2) + _HELD_BATCHES
        collate_fn = WorkerCollate(BatchMemory(workers_per_gpu, blocks))
    return DataLoader(
        dataset,
        batch_size=samples_per_gpu,
        sampler=sampler,
        shuffle=shuffle,
        num_workers=workers_per_gpu,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        drop_last=drop_last,
        generator=generator,
        persistent_workers=persistent_workers and workers_per_gpu > 0,
        prefetch_factor=prefetch_factor if workers_per_gpu > 0 else None,
        worker_init_fn=init_loader_worker if workers_per_gpu > 0 else None,
    )


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# a loader worker keeps up to this much freed memory in its heap, and takes blocks below it from the heap
_WORKER_HEAP_KEEP = 32 * 1024 ** 2


def _keep_freed_memory() -> bool:
    """Let this process's malloc (glibc only) keep freed image buffers for the next image instead of handing
    them back to the kernel; returns whether it could.

    glibc's defaults, for a process whose large blocks are all a few hundred KiB (a loader worker: each
    image's decoded, resized and transposed arrays; its batches go to shared memory, not to the heap), keep
    mapping such blocks afresh or trimming them off the heap, so that every image's arrays are zero-filled
    page by page again: ~25 page faults per 224x224 image (~800 of the ~2,000 a batch took in a worker on
    the 2-core machine of issue 15). A single process does not see this: its batch-sized blocks raise
    glibc's thresholds. Freed memory stays with the worker, up to ``_WORKER_HEAP_KEEP`` (32 MiB) each.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _WORKER_HEAP_KEEP)) and bool(mallopt(_M_TRIM_THRESHOLD, _WORKER_HEAP_KEEP))


def init_loader_worker(worker_id: int) -> None:
    """Set up a loader worker process: OpenCV runs sequentially (the loader's processes are the parallelism,
    and an OpenCV thread pool in each of them would only compete for the same cores; MMCls sets
    ``cv2.setNumThreads(0)`` for the same reason), and malloc keeps freed image buffers for the next image
    (:func:`_keep_freed_memory`). Torch already seeds each worker's numpy and ``random`` from the loader's
    seed."""
    import cv2

    cv2.setNumThreads(0)
    _keep_freed_memory()


_fuse_normalize = fuse_normalize  # the function, under a name that build_dataloader's argument does not shadow
