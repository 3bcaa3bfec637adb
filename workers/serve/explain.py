"""Entrypoint of a checkpoint's class activation map (the run page's "try it" box): ``python -m
workers.serve.explain cams/<checkpoint>/<request>/job.json``, a short Ray job the web process submits so that
it never loads torch itself (``backend/deployments/checkpoint_cams.py``).

The job file names the run's spec, the checkpoint and the uploaded image by their keys on ``$TRAINYARD_STORAGE``,
and the method; the job writes ``result.json`` beside it (and removes the image): what a PyTorch deployment's ``cam`` request answers
(``workers.serve.classifier.ServedClassifier.explain``: the image's top-5, the map as a PNG in base64), or
``{"error": ...}`` for an image that cannot be read (over ``TRAINYARD_MAX_IMAGE_PIXELS``, not an image) or a
method that does not exist.
"""

from __future__ import annotations

import json
import sys

__all__ = ["main", "run_job"]


def _inside(key: str, folder: str) -> bool:
    return key.startswith(folder + "/") and ".." not in key.split("/")


def run_job(job_key: str) -> dict:
    """Compute the map the job file at ``job_key`` asks for and write ``result.json`` beside it.

    Returns:
        What was written.

    Raises:
        ValueError: the job file names a checkpoint outside a run's folder or an image outside its own folder.
    """
    import torch

    from workers.serve.classifier import ServedClassifier, local_checkpoint
    from workers.storage import open_storage

    storage = open_storage()
    folder = job_key.rsplit("/", 1)[0]
    job = json.loads(storage.read_text(job_key))
    if not _inside(job["checkpoint_key"], "runs"):
        raise ValueError(f"the checkpoint {job['checkpoint_key']!r} is not in a run's folder")
    if not _inside(job["image_key"], folder):
        raise ValueError(f"the image {job['image_key']!r} is not in the job's folder")
    torch.set_num_threads(1)  # a short job beside the cluster's own work
    served = ServedClassifier(job["spec"], local_checkpoint(storage, job["checkpoint_key"]), runtime="pytorch")
    try:
        answer = served.explain(storage.read_bytes(job["image_key"]), job["image_name"], job["method"])
        result = {"predictions": [answer["prediction"]], "cam": answer["cam"], "runtime": "pytorch"}
    except ValueError as exc:  # BadImage, an unknown method
        result = {"error": str(exc)}
    storage.write_text(f"{folder}/result.json", json.dumps(result))
    storage.remove(job["image_key"])  # the upload has served its purpose; the answer stays for the page
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m workers.serve.explain JOB_KEY")
    result = run_job(args[0])
    print("[trainyard] " + (f"refused: {result['error']}" if "error" in result else
                           f"{result['cam']['method']} of {result['cam']['class']}"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
