"""The Ray Serve deployment of a Trainyard deployment: one ``ServedClassifier`` per replica, with dynamic
batching across requests (``@serve.batch``; its size and wait are the deployment's own, set per replica).

The web process is its only client. A request carries image files back to back in its body, their sizes in
``X-Trainyard-Sizes`` and their names in ``X-Trainyard-Names`` (JSON), and the deployment's key in
``X-Trainyard-Key``: Serve's proxy listens inside the cluster, where other teams' jobs run too, and a request
without the key is refused. ``X-Trainyard-Kind`` says what is asked: ``predict`` (the default) or ``cam``, the
class activation map of one image (``X-Trainyard-Method``, default GradCAM; PyTorch deployments only).
Answers: 200 ``{"predictions": [...]}`` (a ``cam`` adds ``{"cam": {..., "png": base64}}``), 400 ``{"detail": ...}``
for a file that is not a usable image (the replica goes on serving) or a malformed request, 403 for a wrong key,
409 for a map asked of an ONNX Runtime deployment.

Where a replica's time goes (``bench/serve_latency.py``): each image is decoded and put through the pipeline
inside its batch's one trip to the thread pool, normalised once for the whole batch (``fuse_normalize``), and
scored in one forward; the event loop only reads bodies and answers, and writes no access log line. What is left
per request is Serve's own (the proxy's HTTP and routing, the replica pulling the body back from the proxy, its
metrics): about as much CPU as the demo model's one-image forward, which is why batching gains less than 2x there.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time

from ray import serve

from workers.serve.classifier import BadImage, CamUnavailable, ServedClassifier, local_checkpoint
from workers.storage import open_storage

__all__ = ["KINDS", "Classifier", "build_app", "split_body"]

KINDS = ("predict", "cam")

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
        checkpoint = local_checkpoint(open_storage(job["storage"]), job["checkpoint_key"])
        self.service = ServedClassifier(job["spec"], checkpoint, runtime=job["runtime"], device=device)
        self.classify_batch.set_max_batch_size(int(job["max_batch_size"]))
        self.classify_batch.set_batch_wait_timeout_s(float(job["batch_wait_timeout_s"]))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def classify_batch(self, files: list[tuple[str, bytes]]) -> list[dict | BadImage]:
        """Decode, prepare and score the images of requests that arrived together (one image per item), in one
        trip to the thread pool; a bad image answers its ``BadImage`` and the others are scored."""
        return await asyncio.get_running_loop().run_in_executor(None, self.service.classify_each, files)

    async def __call__(self, request):
        from starlette.responses import JSONResponse

        if not hmac.compare_digest(request.headers.get("x-trainyard-key", ""), self.key):
            return JSONResponse({"detail": "wrong deployment key"}, status_code=403)
        started = time.perf_counter()
        kind = request.headers.get("x-trainyard-kind") or "predict"
        if kind not in KINDS:
            return JSONResponse({"detail": f"X-Trainyard-Kind must be one of {', '.join(KINDS)}"}, status_code=400)
        body = await request.body()
        try:
            files = split_body(body, request.headers.get("x-trainyard-sizes", ""),
                               request.headers.get("x-trainyard-names", ""))
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        if kind == "cam":
            return await self._cam(files, request.headers.get("x-trainyard-method") or "GradCAM", started)
        answers = await asyncio.gather(*(self.classify_batch(f) for f in files))
        for answer in answers:
            if isinstance(answer, BadImage):
                return JSONResponse({"detail": str(answer)}, status_code=400)
        for (name, _), answer in zip(files, answers, strict=True):
            answer["filename"] = name
        return JSONResponse({"predictions": answers, "runtime": self.service.runtime,
                             "replica_ms": round((time.perf_counter() - started) * 1000, 3)})

    async def _cam(self, files: list[tuple[str, bytes]], method: str, started: float):
        """The class activation map of one image (not batched: a backward pass of its own, rare)."""
        from starlette.responses import JSONResponse

        if len(files) != 1:
            return JSONResponse({"detail": f"a class activation map is of one image; the request has {len(files)}"},
                                status_code=400)
        name, content = files[0]
        try:
            answer = await asyncio.get_running_loop().run_in_executor(None, self.service.explain, content, name,
                                                                      method)
        except CamUnavailable as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        except ValueError as exc:  # BadImage, an unknown method
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return JSONResponse({"predictions": [answer["prediction"]], "cam": answer["cam"],
                             "runtime": self.service.runtime,
                             "replica_ms": round((time.perf_counter() - started) * 1000, 3)})


def build_app(job: dict, key: str):
    """The bound application of a deployment's job: its replicas, their CPUs/GPUs and environment."""
    env = {"TRAINYARD_MAX_IMAGE_PIXELS": str(job["max_image_pixels"])}
    options = {"num_cpus": float(job["cpus_per_replica"]), "num_gpus": float(job["gpus_per_replica"]),
               "runtime_env": {"env_vars": env}}
    # no access log line per request (Serve writes and flushes one to the replica's log file for each): the web
    # process counts and times every request itself (backend.deployments.services.record_prediction)
    return Classifier.options(num_replicas=int(job["replicas"]), ray_actor_options=options,
                              max_ongoing_requests=max(100, 4 * int(job["max_batch_size"])),
                              logging_config={"enable_access_log": False}).bind(job, key)
