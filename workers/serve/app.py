"""The Ray Serve deployment of a Trainyard deployment: one ``ServedClassifier`` per replica, with dynamic
batching across requests (``@serve.batch``; its size and wait are the deployment's own, set per replica).

The web process is its only client. A request carries image files back to back in its body, their sizes in
``X-Trainyard-Sizes`` and their names in ``X-Trainyard-Names`` (JSON), and the deployment's key in
``X-Trainyard-Key``: Serve's proxy listens inside the cluster, where other teams' jobs run too, and a request
without the key is refused. Answers: 200 ``{"predictions": [...]}``, 400 ``{"detail": ...}`` for a file that is
not a usable image (the replica goes on serving), 403 for a wrong key.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from ray import serve

from workers.serve.classifier import BadImage, ServedClassifier

__all__ = ["Classifier", "build_app", "split_body"]

log = logging.getLogger("ray.serve")


def split_body(body: bytes, sizes_header: str, names_header: str) -> list[tuple[str, bytes]]:
    """The ``(name, bytes)`` files of a request body.

    Raises:
        ValueError: the headers do not describe the body.
    """
    try:
        sizes = [int(s) for s in sizes_header.split(",")] if sizes_header else []
        names = json.loads(names_header) if names_header else [f"image{i}" for i in range(len(sizes))]
    except ValueError:
        raise ValueError("X-Trainyard-Sizes must be whole numbers separated by commas, X-Trainyard-Names a JSON "
                         "list") from None
    if not sizes or len(names) != len(sizes) or any(s < 0 for s in sizes) or sum(sizes) != len(body):
        raise ValueError("the request's sizes do not add up to its body")
    files, offset = [], 0
    for name, size in zip(names, sizes, strict=True):
        files.append((str(name), body[offset:offset + size]))
        offset += size
    return files


def _checkpoint_file(job: dict) -> str:
    """The checkpoint as a file on this node: on a path storage itself, else downloaded once."""
    from workers.storage import open_storage

    storage = open_storage(job["storage"])
    if storage.is_local:
        return storage.fs_path(job["checkpoint_key"])
    folder = tempfile.mkdtemp(prefix="trainyard-serve-ckpt-")
    target = os.path.join(folder, job["checkpoint_key"].rsplit("/", 1)[-1])
    storage.download(job["checkpoint_key"], Path(target))
    return target


@serve.deployment
class Classifier:
    """One replica: the model, the batch queue and the HTTP entry point.

    Args:
        job: What the deploy job read from the deployment's job file (``launch.read_job``): ``spec``,
            ``checkpoint_key``, ``storage``, ``runtime``, ``max_batch_size``, ``batch_wait_timeout_s``,
            ``cpus_per_replica``, ``gpus_per_replica``.
        key: The deployment's key, which every request must carry.
    """

    def __init__(self, job: dict, key: str):
        import torch

        threads = max(1, int(job.get("cpus_per_replica") or 1))
        torch.set_num_threads(threads)
        device = "cuda" if job.get("gpus_per_replica") and torch.cuda.is_available() else "cpu"
        self.key = key
        self.service = ServedClassifier(job["spec"], _checkpoint_file(job), runtime=job["runtime"], device=device)
        self.score_batch.set_max_batch_size(int(job["max_batch_size"]))
        self.score_batch.set_batch_wait_timeout_s(float(job["batch_wait_timeout_s"]))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def score_batch(self, prepared: list[dict]) -> list[dict]:
        """One forward for the images of requests that arrived together (one image per item)."""
        rows = await asyncio.get_running_loop().run_in_executor(None, self.service.scores, prepared)
        return [self.service.answer(row) for row in rows]

    async def __call__(self, request):
        from starlette.responses import JSONResponse

        if not hmac.compare_digest(request.headers.get("x-trainyard-key", ""), self.key):
            return JSONResponse({"detail": "wrong deployment key"}, status_code=403)
        started = time.perf_counter()
        body = await request.body()
        try:
            files = split_body(body, request.headers.get("x-trainyard-sizes", ""),
                               request.headers.get("x-trainyard-names", ""))
            prepared = [self.service.prepare(content, name) for name, content in files]
        except BadImage as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        answers = await asyncio.gather(*(self.score_batch(p) for p in prepared))
        for (name, _), answer in zip(files, answers, strict=True):
            answer["filename"] = name
        return JSONResponse({"predictions": answers, "runtime": self.service.runtime,
                             "replica_ms": round((time.perf_counter() - started) * 1000, 3)})


def build_app(job: dict, key: str):
    """The bound application of a deployment's job: its replicas, their CPUs/GPUs and environment."""
    env = {"TRAINYARD_MAX_IMAGE_PIXELS": str(job["max_image_pixels"])}
    options = {"num_cpus": float(job["cpus_per_replica"]), "num_gpus": float(job["gpus_per_replica"]),
               "runtime_env": {"env_vars": env}}
    return Classifier.options(num_replicas=int(job["replicas"]), ray_actor_options=options,
                              max_ongoing_requests=max(100, 4 * int(job["max_batch_size"]))).bind(job, key)
