"""An evaluation stored as it is (no validation, no dispatch) with its predictions written in its folder, as an
evaluation job leaves them (``backend.evaluations.results``): for the API, page and access tests."""
import io
import json
from pathlib import Path

import numpy as np

from backend.evaluations.models import Evaluation

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:~\x9bU"
       b"\x00\x00\x00\nIDATx\x9cc`\x00\x00\x00\x02\x00\x01H\xaf\xa4q\x00\x00\x00\x00IEND\xaeB`\x82")  # 1x1 grey
SPEC_WITH_SPLITS = {"data": {"val": {"type": "ImageNet", "pipeline": []}, "test": {"type": "ImageNet", "pipeline": []}}}


def make_evaluation(cast, checkpoint, storage_root: Path, scores=None, labels=None, files=None, **kw) -> Evaluation:
    """An evaluation of ``checkpoint`` (team A's); with ``scores`` and ``labels``, its predictions stored under
    ``storage_root`` and each sample's image (``files``, default ``val/img<i>.png``) in the dataset's folder."""
    fields = dict(team=cast.team, created_by=cast.users["owner"], name="e", dataset=cast.dataset,
                  spec_text="x = 1", resolved_spec=SPEC_WITH_SPLITS, spec_hash="0" * 64, checkpoint=checkpoint,
                  metric_names=["accuracy"], metric_options={"topk": [1, 2]}, resources={"num_workers": 2})
    evaluation = Evaluation.objects.create(**{**fields, **kw})
    if scores is not None:
        write_predictions(evaluation, storage_root, scores, labels, files)
    return evaluation


def write_predictions(evaluation: Evaluation, storage_root: Path, scores, labels, files=None) -> None:
    """What an evaluation job leaves in its folder: ``predictions.npz`` (``labels`` ``(N,)``, or ``(N, C)`` of
    1 / 0 / -1 for a multi-label dataset) and ``result.json``; and each sample's image in the dataset's folder."""
    folder = storage_root / evaluation.folder
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, scores=np.asarray(scores, np.float32), labels=np.asarray(labels, np.int64),
             index=np.arange(len(labels)))
    (folder / "predictions.npz").write_bytes(buf.getvalue())
    images = storage_root / evaluation.dataset.path / "val"
    images.mkdir(parents=True, exist_ok=True)
    for i in range(len(labels)):
        (images / f"img{i}.png").write_bytes(PNG)
    (folder / "result.json").write_text(json.dumps({"classes": evaluation.dataset.classes,
                                                    "files": files or [f"val/img{i}.png" for i in range(len(labels))],
                                                    "scoring_seconds": 1.5}))
