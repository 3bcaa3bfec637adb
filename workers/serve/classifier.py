"""The model a deployment serves, without Ray: image bytes -> ``trainyard infer``'s answer and the top-k.

The checkpoint is built with the project's own code: :func:`workers.apis.init_model` for PyTorch eager, or
:func:`workers.export.load_export_model` + :func:`workers.export.export_onnx` (verified against PyTorch) and
:class:`workers.export.OnnxClassifier` for ONNX Runtime. Each image goes through the spec's test pipeline
(``data.test.pipeline``) as :func:`workers.apis.inference_model` sends it, except that its first step,
``LoadImageFromFile``, reads the uploaded bytes with the same arguments: the same decoder
(:func:`workers.data.transforms.loading.imfrombytes`) and so the same pixel limit, checked on the header before
anything is decoded (``TRAINYARD_MAX_IMAGE_PIXELS``). A final ``Normalize`` is applied to the whole batch.

``explain`` makes ``trainyard vis-cam``'s class activation map of one image (:mod:`workers.tools.vis_cam`, the
family's default target layer) for a PyTorch model: a deployment's ``cam`` request, and a checkpoint's map job
(:mod:`workers.serve.explain`).
"""

from __future__ import annotations

import base64
import copy
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch

__all__ = ["BadImage", "CamUnavailable", "ServedClassifier", "TOP_K", "local_checkpoint"]

TOP_K = 5


class CamUnavailable(ValueError):
    """Class activation maps need the PyTorch model (its gradients): an ONNX Runtime deployment has none."""


class BadImage(ValueError):
    """An uploaded file that cannot be classified (not an image, too large, refused by the pipeline)."""


class _LoadImageFromBytes:
    """``LoadImageFromFile`` with the same arguments, on ``results['img_bytes']`` instead of a file."""

    def __init__(self, to_float32: bool = False, color_type: str = "color", file_client_args=None,
                 backend: str = "cv2"):
        from workers.data.transforms.loading import LoadImageFromFile

        self.check = LoadImageFromFile(to_float32, color_type, file_client_args, backend)  # validates the args

    def __call__(self, results: dict) -> dict:
        from workers.data.transforms.loading import imfrombytes

        name = results.get("filename") or "image"
        img = imfrombytes(results.pop("img_bytes"), self.check.color_type, backend=self.check.backend, name=name)
        if self.check.to_float32:
            img = img.astype(np.float32)
        channels = 1 if img.ndim < 3 else img.shape[2]
        results.update(img=img, ori_filename=name, img_shape=img.shape, ori_shape=img.shape,
                       img_norm_cfg={"mean": np.zeros(channels, dtype=np.float32),
                                     "std": np.ones(channels, dtype=np.float32), "to_rgb": False})
        return results


def local_checkpoint(storage, key: str) -> str:
    """The checkpoint at ``key`` as a file on this node: on a path storage itself, else downloaded once."""
    if storage.is_local:
        return storage.fs_path(key)
    folder = tempfile.mkdtemp(prefix="trainyard-serve-ckpt-")
    target = Path(folder) / key.rsplit("/", 1)[-1]
    storage.download(key, target)
    return str(target)


def _pipeline(spec: dict):
    from workers.data import Compose

    try:
        steps = copy.deepcopy(spec["data"]["test"]["pipeline"])
    except (KeyError, TypeError):
        raise ValueError("the run's spec has no data.test.pipeline to prepare images with") from None
    if not steps or steps[0].get("type") != "LoadImageFromFile":
        raise ValueError("the spec's test pipeline must start with LoadImageFromFile to be served")
    first = {k: v for k, v in steps[0].items() if k != "type"}
    # a final Normalize is left to the batch (one tensor operation for all its images, ``prepare_images``)
    return Compose([_LoadImageFromBytes(**first), *steps[1:]], fuse_normalize=True)


class ServedClassifier:
    """A checkpoint ready to classify uploaded images.

    Args:
        spec: The run's resolved spec.
        checkpoint: The checkpoint file (read with ``weights_only``).
        runtime: ``'pytorch'`` (eager) or ``'onnxruntime'`` (exported here, verified, run with ONNX Runtime).
        device: ``'cpu'`` or ``'cuda'``.
        top_k: How many classes each answer lists.
    """

    def __init__(self, spec: dict, checkpoint: str | Path, runtime: str = "pytorch", device: str = "cpu",
                 top_k: int = TOP_K):
        self.pipeline = _pipeline(spec)
        self.device = torch.device(device)
        self.top_k = top_k
        # a map hooks the model's layers and runs a backward pass: no forward may run beside it (Serve runs the
        # batches in a thread pool), and a forward costs nothing to take an uncontended lock
        self.lock = threading.Lock()
        if runtime == "pytorch":
            from workers.apis import init_model

            self.model = init_model(spec, checkpoint, device=self.device)
            self.classes = self.model.CLASSES
        elif runtime == "onnxruntime":
            self.model, self.classes = self._onnx(spec, checkpoint)
        else:
            raise ValueError(f"runtime must be 'pytorch' or 'onnxruntime', got {runtime!r}")
        self.runtime = runtime

    def _onnx(self, spec: dict, checkpoint):
        """Export the checkpoint to ONNX (dynamic batch, verified against PyTorch) in a folder of this process."""
        from workers.export import OnnxClassifier, export_onnx, load_export_model

        model, classes = load_export_model(spec, checkpoint)
        shape = tuple(self.prepare(self._dummy_image(), "probe")["img"].shape)  # (C, H, W) after the pipeline
        self._folder = tempfile.TemporaryDirectory(prefix="trainyard-serve-onnx-")
        path = Path(self._folder.name) / "model.onnx"
        export_onnx(model, path, (1, *shape), dynamic_export=True, verify=True, classes=classes)
        onnx = OnnxClassifier(path, device=self.device)
        if self.device.type == "cpu":  # as many threads as PyTorch may use here (a replica's CPUs), not every core
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = torch.get_num_threads()
            onnx.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return onnx, classes

    @staticmethod
    def _dummy_image() -> bytes:
        import cv2

        ok, encoded = cv2.imencode(".png", np.zeros((224, 224, 3), np.uint8))
        return encoded.tobytes()

    def prepare(self, content: bytes, name: str = "image") -> dict:
        """One image file's bytes through the test pipeline.

        Raises:
            BadImage: the bytes are not an image, the image is over the pixel limit, or the pipeline refuses it.
        """
        if not content:
            raise BadImage(f"{name}: the file is empty")
        try:
            return self.pipeline({"img_bytes": bytes(content), "filename": name, "img_prefix": None})
        except (ValueError, TypeError, KeyError, IndexError) as exc:  # ImageTooLarge is a ValueError
            message = str(exc)
            raise BadImage(message if message.startswith(name) else f"{name}: {message}") from None

    @torch.no_grad()
    def scores(self, prepared: list[dict]) -> np.ndarray:
        """Class scores ``(N, C)`` of prepared images, one forward per group of equally-shaped images."""
        from workers.data import collate, prepare_images

        out: list[np.ndarray | None] = [None] * len(prepared)
        groups: dict[tuple, list[int]] = {}
        for i, data in enumerate(prepared):
            groups.setdefault(tuple(data["img"].shape), []).append(i)
        for indices in groups.values():
            batch = collate([prepared[i] for i in indices])
            with self.lock:
                result = self.model.simple_test(prepare_images(batch, self.device))
            result = result.float().cpu().numpy()
            for row, i in zip(result, indices, strict=True):
                out[i] = row
        return np.stack(out)

    def answer(self, row: np.ndarray) -> dict:
        """``trainyard infer``'s answer for one row of scores, with the ``topk`` classes best first."""
        order = [int(i) for i in np.argsort(-row, kind="stable")[: self.top_k]]
        label = order[0]
        return {"pred_label": label, "pred_score": float(row[label]), "pred_class": self.class_name(label),
                "topk": [{"label": i, "class": self.class_name(i), "score": float(row[i])} for i in order]}

    def class_name(self, label: int) -> str:
        """The checkpoint's name of class ``label`` (its number when the checkpoint has no class names)."""
        return self.classes[label] if self.classes is not None else str(label)

    def classify(self, files: list[tuple[str, bytes]]) -> list[dict]:
        """Answers for ``(name, bytes)`` files, in their order (unbatched: the Serve app batches across requests).

        Raises:
            BadImage: for the first file that cannot be classified.
        """
        prepared = [self.prepare(content, name) for name, content in files]
        return [self.answer(row) for row in self.scores(prepared)]

    def classify_each(self, files: list[tuple[str, bytes]]) -> list[dict | BadImage]:
        """Answers for ``(name, bytes)`` files in one forward (a Serve batch: decoding included, off the event
        loop); a file that cannot be classified answers its ``BadImage`` in its place and the others go on."""
        out: list[dict | BadImage | None] = [None] * len(files)
        prepared, at = [], []
        for i, (name, content) in enumerate(files):
            try:
                prepared.append(self.prepare(content, name))
                at.append(i)
            except BadImage as exc:
                out[i] = exc
        if prepared:
            for i, row in zip(at, self.scores(prepared), strict=True):
                out[i] = self.answer(row)
        return out

    def explain(self, content: bytes, name: str = "image", method: str = "GradCAM") -> dict:
        """``trainyard vis-cam``'s map of one image for its predicted class, with the image's answer (top-k).

        The family's default target layer (:func:`workers.tools.vis_cam.default_target_layers`); the picture is
        the image as the test pipeline shows it beside the map blended on it, a PNG in base64.

        Raises:
            CamUnavailable: the model runs in ONNX Runtime.
            BadImage: the bytes are not a usable image (as :meth:`prepare`).
            ValueError: an unknown method (the message names the supported ones).
        """
        import cv2

        from workers.tools import vis_cam

        if self.runtime != "pytorch":
            raise CamUnavailable("class activation maps need the PyTorch runtime; this deployment runs "
                                 f"{self.runtime} (deploy the checkpoint with PyTorch to see them)")
        data = self.prepare(content, name)  # the pixel limit and the pipeline's refusals, as for predict
        loaded = self.pipeline.transforms[0]({"img_bytes": bytes(content), "filename": name})["img"]
        with self.lock:
            result = vis_cam.compute_cam(self.model, loaded, method=method)
        [row] = self.scores([data])
        ok, png = cv2.imencode(".png", vis_cam.picture(result))
        if not ok:
            raise BadImage(f"{name}: the map could not be written as a PNG")
        category = result.categories[0]
        shown = dict(zip(vis_cam.METHODS.values(), vis_cam.SHOWN_METHODS, strict=True))  # GradCAM++, not ...PlusPlus
        return {"prediction": {**self.answer(row), "filename": name},
                "cam": {"method": shown.get(result.method, result.method), "target_layers": result.target_layers, "category": category,
                        "class": self.class_name(category), "score": result.scores[0],
                        "png": base64.b64encode(png.tobytes()).decode("ascii")}}
