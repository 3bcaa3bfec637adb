"""What an evaluation job leaves in its folder, read by the backend: ``predictions.npz`` (every sample's class
scores, label and index in dataset order, plain arrays read with ``allow_pickle=False``) and ``result.json``
(class names, each sample's image relative to the dataset's folder, timings). ``record`` scores them when the job has succeeded.
"""
from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass

import numpy as np

from backend.experiments.storage import storage

from . import scoring
from .models import Evaluation

log = logging.getLogger(__name__)

PREDICTIONS = "predictions.npz"
RESULT = "result.json"


@dataclass
class Predictions:
    scores: np.ndarray  # (N, C) float32
    labels: np.ndarray  # (N,) int64
    index: np.ndarray  # (N,) the sample's index in the split: 0..N-1, each once
    classes: list[str]
    files: list[str]  # each sample's image, relative to the dataset's folder ('' where unknown)
    info: dict


class NoPredictions(Exception):
    """The evaluation has no readable predictions (not finished, or its files are gone or malformed)."""


def load(evaluation: Evaluation) -> Predictions:
    """The evaluation's stored predictions.

    Raises:
        NoPredictions: the files are missing, or break the layout (each sample once, in order, shapes agree).
    """
    store = storage()
    try:
        raw = store.read_bytes(f"{evaluation.folder}/{PREDICTIONS}")
        info = json.loads(store.read_text(f"{evaluation.folder}/{RESULT}"))
    except (OSError, ValueError) as exc:
        raise NoPredictions(f"no stored predictions ({exc})") from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            scores, labels, index = npz["scores"].astype(np.float32), npz["labels"].astype(np.int64), npz["index"]
    except (OSError, ValueError, KeyError) as exc:
        raise NoPredictions(f"unreadable predictions ({exc})") from None
    n = len(index)
    if scores.ndim != 2 or len(scores) != n or len(labels) != n or not np.array_equal(index, np.arange(n)):
        raise NoPredictions("the stored predictions are not one row per sample in dataset order")
    classes = [str(c) for c in info.get("classes") or []] or [str(i) for i in range(scores.shape[1])]
    files = [str(f) for f in info.get("files") or []]
    return Predictions(scores, labels, index, classes, files if len(files) == n else [""] * n, info)


def record(evaluation: Evaluation) -> None:
    """Score a succeeded evaluation's predictions with its metrics and keep them on the row."""
    try:
        pred = load(evaluation)
        metrics = scoring.evaluate(pred.scores, pred.labels, evaluation.metric_names, evaluation.metric_options)
    except (NoPredictions, scoring.ScoringError) as exc:
        log.warning("evaluation %s: %s", evaluation.pk, exc)
        Evaluation.objects.filter(pk=evaluation.pk).update(status_reason=f"succeeded, but {exc}")
        return
    Evaluation.objects.filter(pk=evaluation.pk).update(
        metrics=metrics, num_samples=len(pred.index), scoring_seconds=pred.info.get("scoring_seconds"))


IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".bmp": "image/bmp",
               ".gif": "image/gif", ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff"}


def sample_image(evaluation: Evaluation, index: int) -> tuple[str, str] | None:
    """The storage key and content type of sample ``index``'s image, for the page's galleries; None when there
    is none to serve: no such sample, no file recorded, not an image, or a name that leaves the evaluation's
    dataset folder (``key_in_folder``, links followed) — only the team's own dataset is ever served."""
    from backend.experiments.datasets import stored_dataset_key
    from backend.experiments.errors import ServiceError
    from backend.experiments.storage import key_in_folder, storage_file

    try:
        pred = load(evaluation)
        folder = stored_dataset_key(evaluation.dataset)
    except (NoPredictions, ServiceError):
        return None
    if not 0 <= index < len(pred.files) or not pred.files[index]:
        return None
    kind = IMAGE_TYPES.get("." + pred.files[index].rsplit(".", 1)[-1].lower())
    key = key_in_folder(folder, f"{folder}/{pred.files[index]}")
    key = storage_file(key) if key is not None and kind else None
    return (key, kind) if key is not None else None
