"""Build datasets from specs and data loaders from datasets (distributed-aware)."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from workers.data.datasets import ConcatDataset
from workers.data.samplers import build_sampler
from workers.registry import DATASETS

__all__ = ["build_dataloader", "build_dataset", "collate", "resolve_paths"]

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


def collate(batch: list[dict]) -> dict:
    """Batch a list of result dicts: equal-shaped tensors are stacked, numbers become tensors, anything
    else (``img_metas``, ragged tensors) stays a list."""
    if not batch:
        return {}
    out = {}
    for key in batch[0]:
        values = [sample[key] for sample in batch]
        first = values[0]
        if isinstance(first, torch.Tensor) and all(v.shape == first.shape for v in values):
            out[key] = torch.stack(values)
        elif isinstance(first, (int, float)) and not isinstance(first, bool):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return out


def build_dataloader(dataset, samples_per_gpu: int, workers_per_gpu: int, shuffle: bool = True,
                     seed: int | None = None, drop_last: bool = False, *, round_up: bool = True,
                     pin_memory: bool = False, persistent_workers: bool = False,
                     sampler_cfg: dict | None = None) -> DataLoader:
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
        pin_memory: Pin batches (for CUDA).
        persistent_workers: Keep worker processes between epochs.
        sampler_cfg: The spec's ``sampler`` (e.g. ``dict(type='RepeatAugSampler')``, training loaders
            only, as MMCls): it replaces the default sampler, with or without a process group.
    """
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
    return DataLoader(
        dataset,
        batch_size=samples_per_gpu,
        sampler=sampler,
        shuffle=shuffle,
        num_workers=workers_per_gpu,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=drop_last,
        generator=generator,
        persistent_workers=persistent_workers and workers_per_gpu > 0,
    )
