"""MMClassification 0.25's API (seed 2.2 and 55, ``mmcls.apis``) on the project's engine.

Inference: :func:`init_model` builds a classifier from a spec and a checkpoint, :func:`inference_model`
classifies one image, :func:`show_result_pyplot` draws its result on it. Test: :func:`single_gpu_test` scores a
data loader in one process, :func:`multi_gpu_test` in every process of a ``torch.distributed`` group (gloo on
CPUs, one Ray worker or ``torchrun`` process each), gathered in dataset order on rank 0. Train:
:func:`train_model` trains a model you built on a dataset you built, with the engine's loop.

    model = init_model('jobspecs/library/demo/resnet18-tiny_2xb32-6e_digits.py', 'latest.pth')
    inference_model(model, 'digit.png')  # {'pred_label': 3, 'pred_score': 0.97, 'pred_class': '3'}
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

__all__ = ["inference_model", "init_model", "multi_gpu_test", "show_result_pyplot", "single_gpu_test",
           "train_model"]


def _load_spec(config: str | Path | dict, options: dict | None) -> dict:
    import jobspecs

    if isinstance(config, dict):
        spec = copy.deepcopy(config)
    elif isinstance(config, (str, Path)):
        spec = jobspecs.load_user_config(str(config))  # a config of this machine: _base_ as in MMCls
    else:
        raise TypeError(f"config must be a filename or a spec dict, but got {type(config).__name__}")
    for key, value in (options or {}).items():  # mmcv's Config.merge_from_dict: dotted keys
        node = spec
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    from workers.custom_imports import import_custom_modules

    import_custom_modules(spec)  # allowlisted modules only (workers.custom_imports)
    return spec


def init_model(config: str | Path | dict, checkpoint: str | Path | None = None, device: str | torch.device = "cpu",
               options: dict | None = None, partial: bool = False) -> nn.Module:
    """Build the classifier of a spec and load a checkpoint's weights into it.

    Args:
        config: A spec file or an already resolved spec dict.
        checkpoint: Checkpoint whose weights to load (``None``: initial weights).
        device: Where the model goes.
        options: Spec overrides, e.g. ``{'model.head.num_classes': 10}``.
        partial: Accept a checkpoint that leaves weights of the model unloaded (by default refused, with the
            list of those weights: a checkpoint of another model would predict at random).

    Returns:
        The model in eval mode, with ``cfg`` (the spec) and ``CLASSES`` (the checkpoint's class names,
        ``None`` when it has none) attached.
    """
    from workers.engine.checkpoint import load_checkpoint
    from workers.models import build_model, load_weights

    spec = _load_spec(config, options)
    model = build_model(copy.deepcopy(spec["model"]))
    classes = None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        load_weights(model, state, strict=False, partial=partial)
        classes = (state.get("meta") or {}).get("CLASSES")
        if classes is None:
            warnings.warn("the checkpoint has no CLASSES in its meta; pred_class will be the label number",
                          stacklevel=2)
    model.cfg = spec
    model.CLASSES = list(classes) if classes is not None else None
    model.to(device)
    model.eval()
    return model


class _UseArray:
    """Stands in for ``LoadImageFromFile`` when the image is already an array (MMCls's webcam loader)."""

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        results.update(filename=None, ori_filename=None, img_shape=img.shape, ori_shape=img.shape)
        channels = 1 if img.ndim < 3 else img.shape[2]
        results["img_norm_cfg"] = {"mean": np.zeros(channels, dtype=np.float32),
                                   "std": np.ones(channels, dtype=np.float32), "to_rgb": False}
        return results


@torch.no_grad()
def inference_model(model: nn.Module, img: str | Path | np.ndarray) -> dict:
    """Classify one image with the spec's test pipeline (``data.test.pipeline``).

    Args:
        model: From :func:`init_model`.
        img: An image file, or an ``HxWxC`` BGR uint8 array.

    Returns:
        ``{'pred_label': int, 'pred_score': float, 'pred_class': str}``.
    """
    from workers.data import Compose, collate, prepare_images

    try:
        steps = copy.deepcopy(model.cfg["data"]["test"]["pipeline"])
    except (AttributeError, KeyError, TypeError):
        raise KeyError("the model's spec (model.cfg) has no data.test.pipeline; build it with init_model") from None
    if isinstance(img, np.ndarray):
        if steps and steps[0].get("type") == "LoadImageFromFile":
            steps[0] = _UseArray()
        data = {"img": img}
    else:
        if not Path(img).is_file():
            raise FileNotFoundError(f"image not found: {img}")
        data = {"img_info": {"filename": str(img)}, "img_prefix": None}
    data = Compose(steps)(data)
    batch = collate([data])
    device = next(model.parameters()).device
    scores = model.simple_test(prepare_images(batch, device))
    pred_score, pred_label = torch.max(scores, dim=1)
    label = int(pred_label[0])
    classes = getattr(model, "CLASSES", None)
    return {"pred_label": label, "pred_score": float(pred_score[0]),
            "pred_class": classes[label] if classes is not None else str(label)}


# --- the seed's show_result_pyplot, single_gpu_test, multi_gpu_test and train_model ---------------------------


def show_result_pyplot(model: nn.Module, img: str | Path | np.ndarray, result: dict, fig_size: tuple = (15, 10),
                       title: str = "result", wait_time: float = 0) -> np.ndarray:
    """Draw ``result`` (from :func:`inference_model`) on ``img`` and show it with matplotlib (mmcls 0.25's
    ``show_result_pyplot``); with a non-interactive backend (a server, a test) nothing opens.

    Args:
        model: The classifier (its ``CLASSES`` are not needed: the result names its class).
        img: An image file or an ``HxWxC`` BGR array.
        result: ``{'pred_label', 'pred_score', 'pred_class'}``.
        fig_size: The figure's size in inches.
        title: The window's title.
        wait_time: Seconds the window stays (0: until closed).

    Returns:
        The drawn image (BGR uint8), which the seed only showed.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    from workers.data.transforms.loading import imread
    from workers.tools.analyze_results import draw_infos

    array = imread(str(img)) if isinstance(img, (str, Path)) else np.asarray(img)
    drawn = draw_infos(array, {k: result[k] for k in ("pred_label", "pred_score", "pred_class") if k in result})
    if matplotlib.get_backend().lower() not in ("agg", "pdf", "ps", "svg", "cairo", "template"):
        figure = plt.figure(title, figsize=fig_size)
        plt.imshow(drawn[..., ::-1])
        plt.axis("off")
        if wait_time > 0:
            plt.pause(wait_time)
        else:
            plt.show()
        plt.close(figure)
    return drawn


class _Progress:
    """A data loader walked with a tqdm bar counting samples (all ranks' on rank 0), for
    :func:`workers.engine.predict`, which reads ``dataset`` and iterates."""

    def __init__(self, data_loader, enabled: bool, world_size: int = 1):
        self.loader, self.dataset, self.enabled, self.world_size = data_loader, data_loader.dataset, enabled, world_size

    def __iter__(self):
        from tqdm import tqdm

        with tqdm(total=len(self.dataset), desc="test", disable=not self.enabled, leave=False, unit="img") as bar:
            for batch in self.loader:
                yield batch
                size = len(batch["img"]) if "img" in batch else (self.loader.batch_size or 1)
                bar.update(min(size * self.world_size, bar.total - bar.n))


def _draw_predictions(model: nn.Module, dataset, scores: np.ndarray, out_dir: str | Path | None, show: bool,
                      **show_kwargs) -> None:
    import os

    from workers.data.transforms.loading import imread

    classes = getattr(model, "CLASSES", None) or getattr(dataset, "CLASSES", None)
    for info, row in zip(dataset.data_infos, scores, strict=False):
        name = info["img_info"]["filename"]
        path = os.path.join(info["img_prefix"], name) if info.get("img_prefix") is not None else name
        label = int(row.argmax())
        result = {"pred_label": label, "pred_score": float(row[label]),
                  "pred_class": classes[label] if classes is not None else str(label)}
        drawn = show_result_pyplot(model, imread(path), result, **show_kwargs) if show else None
        if out_dir is not None:
            import cv2

            from workers.tools.analyze_results import draw_infos

            target = Path(out_dir) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), drawn if drawn is not None else draw_infos(imread(path), result))


def single_gpu_test(model: nn.Module, data_loader, show: bool = False, out_dir: str | Path | None = None,
                    progress: bool = True, **show_kwargs) -> list[np.ndarray]:
    """Score every sample of ``data_loader`` in this process (mmcls 0.25's ``single_gpu_test``).

    Args:
        model: The classifier (e.g. from :func:`init_model`), on the device its batches go to.
        data_loader: E.g. ``build_dataloader(dataset, 32, 0, shuffle=False)``; not shuffled when ``show`` or
            ``out_dir`` is used (the pictures follow the dataset's order).
        show: Show each image with its prediction (:func:`show_result_pyplot`).
        out_dir: Save each image with its prediction here, under its ``ori_filename``.
        progress: A tqdm bar over the samples.
        **show_kwargs: Passed to :func:`show_result_pyplot` (``fig_size``, ``wait_time``, ...).

    Returns:
        One array of class scores ``(C,)`` per sample, in the loader's order (the seed's list of results).
    """
    from workers.engine.predict import predict

    device = next(model.parameters()).device
    scores = predict(model, _Progress(data_loader, progress), device)
    if show or out_dir is not None:
        _draw_predictions(model, data_loader.dataset, scores, out_dir, show, **show_kwargs)
    return list(scores)


def multi_gpu_test(model: nn.Module, data_loader, tmpdir: str | Path | None = None, gpu_collect: bool = False,
                   progress: bool = True) -> list[np.ndarray] | None:
    """Score a dataset with every process of the ``torch.distributed`` group, each its shard (mmcls 0.25's
    ``multi_gpu_test``): on CPUs the group is gloo's (a Ray Train worker, ``torchrun --nproc_per_node`` or
    ``torch.multiprocessing`` processes), on GPUs NCCL's.

    The loader must be built after the group is initialised (``build_dataloader(dataset, n, w,
    shuffle=False)`` then takes a ``DistributedSampler``: rank ``r`` scores samples ``r, r + W, ...``, the
    last ones repeated so that every rank has as many). The shares are gathered on rank 0 through
    ``torch.distributed`` (:func:`workers.engine.predict`), put back in dataset order and the repeats dropped.

    Args:
        model: The classifier on this process's device (DDP-wrapped or not).
        data_loader: This rank's loader.
        tmpdir: Accepted for the seed's signature: the seed collected through files in it; here the results
            always travel through ``torch.distributed``, so nothing is written.
        gpu_collect: Accepted for the seed's signature (the same collection either way).
        progress: A tqdm bar on rank 0 counting every rank's samples.

    Returns:
        On rank 0 one array of class scores per sample in dataset order; ``None`` on the other ranks.
    """
    from workers.engine.dist import get_dist_info, is_distributed
    from workers.engine.predict import predict

    if not is_distributed():
        raise RuntimeError("multi_gpu_test needs an initialised torch.distributed process group "
                           "(torch.distributed.init_process_group('gloo', ...)); use single_gpu_test in one process")
    rank, world_size = get_dist_info()
    device = next(model.parameters()).device
    scores = predict(model, _Progress(data_loader, progress and rank == 0, world_size), device)
    return None if scores is None else list(scores)


def train_model(model: nn.Module, dataset, cfg: dict, distributed: bool = False, validate: bool = False,
                timestamp: str | None = None, device: str | torch.device | None = None, meta: dict | None = None,
                *, data_root: str | Path | None = None, progress: bool = False) -> dict:
    """Train a model you built on a dataset you built, with the engine's loop (mmcls 0.25's ``train_model``).

    Everything else comes from ``cfg`` as ``trainyard train`` reads it: the optimizer, ``optimizer_config``,
    ``lr_config``, ``runner``, ``evaluation`` (with ``validate``, on ``data.val``), ``checkpoint_config``,
    ``log_config``, ``custom_hooks``, ``resume_from``/``load_from``, ``seed`` and ``work_dir`` (required: logs
    and checkpoints go there). The engine reads the spec's ``data.train`` once while assembling the run (its
    loader settings); the batches then come from ``dataset``.

    Args:
        model: The classifier, e.g. ``workers.models.build_model(cfg['model'])``.
        dataset: The training dataset (``build_dataset(cfg['data']['train'])``), or the seed's list whose
            first item is it (a ``('val', 1)`` workflow phase reads ``data.val`` itself).
        cfg: The resolved spec (``jobspecs.load``) with ``work_dir``.
        distributed: Train in the current ``torch.distributed`` group (DDP); it must be initialised.
        validate: Evaluate on ``data.val`` as ``evaluation`` says.
        timestamp: The log files' name (default: now, ``%Y%m%d_%H%M%S``).
        device: ``'cpu'`` (default) or ``'cuda'``.
        meta: Extra entries for every checkpoint's ``meta``.
        data_root: Folder that relative dataset paths of ``cfg`` are resolved against.
        progress: tqdm bars.

    Returns:
        The best evaluation's metrics and its ``epoch`` (``{}`` without evaluation), as the engine's ``train``.
    """
    import time

    from workers.data import build_dataloader
    from workers.engine import fit
    from workers.engine.assembly import assemble, jsonable
    from workers.engine.dist import get_dist_info, init_random_seed, resolve_device, set_random_seed
    from workers.engine.hooks import EMAHook
    from workers.engine.logger import RunLogger
    from workers.engine.optimizers import build_optimizer
    from workers.engine.resume import restore_start

    spec = copy.deepcopy(cfg)
    if not spec.get("work_dir"):
        raise KeyError("cfg has no work_dir: train_model writes its logs and checkpoints there")
    rank, world_size = get_dist_info()
    if distributed and world_size == 1:
        raise RuntimeError("distributed=True needs an initialised torch.distributed process group")
    if not distributed and world_size > 1:
        raise RuntimeError("a torch.distributed group is initialised: pass distributed=True")
    train_set = dataset[0] if isinstance(dataset, (list, tuple)) else dataset
    work_dir = Path(spec["work_dir"]).expanduser().absolute()
    if rank == 0:
        work_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device or "cpu")
    seed = init_random_seed(spec.get("seed"))
    set_random_seed(seed, bool(spec.get("deterministic", False)))
    log = RunLogger(work_dir, timestamp or time.strftime("%Y%m%d_%H%M%S", time.localtime()), enabled=rank == 0,
                    progress=progress)
    try:
        log.info("torch %s, device %s, world size %d, seed %d, deterministic %s", torch.__version__, device,
                 world_size, seed, bool(spec.get("deterministic", False)))
        run = assemble(spec, work_dir, log, device=device, seed=seed, world_size=world_size, validate=validate,
                       data_root=data_root)
        # the caller's model and dataset take the places of the ones assembled from the spec
        run.model = model.to(device)
        for hook in run.hooks:
            if isinstance(hook, EMAHook):
                hook.register(run.model)
        run.optimizer = build_optimizer(run.model, spec["optimizer"])
        built = run.train_loader
        fused = bool(getattr(getattr(built.dataset, "pipeline", None), "normalize_deferred", False))
        run.train_loader = build_dataloader(train_set, built.batch_size, built.num_workers, shuffle=True, seed=seed,
                                            drop_last=built.drop_last, sampler_cfg=spec.get("sampler"),
                                            fuse_normalize=fused)
        classes = getattr(train_set, "CLASSES", None)
        run.meta.update(jsonable(meta or {}), CLASSES=list(classes) if classes is not None else None)
        state = run.start_state()
        restore_start(state, work_dir, log, resume_from=spec.get("resume_from"), load_from=spec.get("load_from"),
                      restore_optimizer=run.ds_config is None)
        state.model = run.wrap(device, world_size)
        best = fit(state, run.train_loader, run.val_loader, work_dir=work_dir, optimizer_hook=run.optimizer_hook,
                   lr_schedule=run.lr_schedule, device=device, log=log, log_interval=run.log_interval,
                   eval_settings=run.eval_settings, ckpt_settings=run.ckpt_settings, meta=run.meta, hooks=run.hooks,
                   progress=progress, momentum_schedule=run.momentum_schedule,
                   workflow_val_loader=run.workflow_val_loader)
    finally:
        log.close()
    if not best:
        return {}
    return {**best["metrics"], "epoch": best["epoch"]}
