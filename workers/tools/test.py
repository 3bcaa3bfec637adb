"""``trainyard test``: score a checkpoint on ``data.test`` as MMCls 0.25's ``tools/test.py`` does
(seed 3.2): metrics through the dataset's ``evaluate``, and ``--out`` with the chosen ``--out-items``."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch

__all__ = ["OUT_ITEMS", "dump_results", "score_checkpoint"]

OUT_ITEMS = ("all", "none", "class_scores", "pred_score", "pred_label", "pred_class")


def _scores(model, data_loader, device: torch.device, progress: bool) -> np.ndarray:
    from tqdm import tqdm

    from workers.data import prepare_images

    parts = []
    with torch.no_grad():
        for batch in tqdm(data_loader, desc="test", disable=not progress, leave=False):
            parts.append(model.simple_test(prepare_images(batch, device)).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def score_checkpoint(spec: dict, checkpoint: str | Path, *, metrics: list[str] | None = None,
                    metric_options: dict | None = None, out_items: list[str] | None = None,
                    device: str = "cpu", data_root: str | Path | None = None, progress: bool = False) -> dict:
    """Score ``checkpoint`` on the spec's ``data.test``.

    Args:
        spec: The resolved spec.
        checkpoint: The checkpoint file, or an ``.onnx`` file (``trainyard export onnx``) run with ONNX Runtime.
        metrics: Metric names for the dataset's ``evaluate`` (``None``: no metrics).
        metric_options: E.g. ``{'topk': (1, 5)}``.
        out_items: Which per-sample results to return (``OUT_ITEMS``; default ``['all']``).
        device: ``'cpu'`` or ``'cuda'``.
        data_root: Folder relative data paths are resolved against.
        progress: A tqdm bar over the batches.

    Returns:
        The metrics plus the chosen items: ``class_scores`` ``(N, C)``, ``pred_score``, ``pred_label``
        (arrays) and ``pred_class`` (a list of names).
    """
    from workers.apis import init_model
    from workers.data import build_dataset
    from workers.data.builder import build_split_loader
    from workers.engine.dist import resolve_device

    out_items = list(out_items or ["all"])
    unknown = set(out_items) - set(OUT_ITEMS)
    if unknown:
        raise ValueError(f"--out-items {sorted(unknown)} not in {list(OUT_ITEMS)}")
    if "none" in out_items and len(out_items) > 1:
        raise ValueError("--out-items 'none' cannot be combined with other items")
    data = spec["data"]
    if data.get("test") is None:
        raise KeyError("the spec has no data.test")
    dataset = build_dataset(data["test"], {"test_mode": True}, data_root=data_root)
    device_t = resolve_device(device)
    loader = build_split_loader(dataset, data, "test", pin_memory=device_t.type == "cuda")
    if Path(checkpoint).suffix.lower() == ".onnx":  # MMCls's deployment/test.py: the same metrics, ONNX Runtime
        from workers.export import OnnxClassifier

        model = OnnxClassifier(checkpoint, device=device_t)
    else:
        model = init_model(spec, checkpoint, device=device_t)
    classes = model.CLASSES if model.CLASSES is not None else dataset.CLASSES
    scores = _scores(model, loader, device_t, progress)

    results: dict = {}
    if metrics:
        results.update(dataset.evaluate(scores, metric=metrics, metric_options=metric_options))
    if "none" not in out_items:
        pred_label = np.argmax(scores, axis=1)
        items = {"class_scores": scores, "pred_score": np.max(scores, axis=1), "pred_label": pred_label,
                 "pred_class": [classes[i] if classes is not None else str(i) for i in pred_label]}
        wanted = items if "all" in out_items else {key: items[key] for key in out_items}
        results.update(wanted)
    return results


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump_results(results: dict, path: str | Path) -> Path:
    """Write ``results`` as ``.json``, ``.pkl``/``.pickle`` or ``.yaml``/``.yml`` (mmcv.dump's formats)."""
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".json":
        path.write_text(json.dumps(results, default=_plain))
    elif suffix in (".pkl", ".pickle"):
        with open(path, "wb") as f:
            pickle.dump(results, f)
    elif suffix in (".yaml", ".yml"):
        import yaml

        path.write_text(yaml.safe_dump(json.loads(json.dumps(results, default=_plain))))
    else:
        raise ValueError(f"--out must end in .json, .pkl or .yaml, got {path.name!r}")
    return path
