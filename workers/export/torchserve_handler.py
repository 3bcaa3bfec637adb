"""The TorchServe handler inside the ``.mar`` of ``trainyard export torchserve`` (seed chapter 50).

TorchServe loads this file from the unpacked archive and calls ``handle(data, context)``: first with
``data=None`` to load the model, then with each batch of requests. Every request's body is an image file
(``curl http://127.0.0.1:8080/predictions/NAME -T demo.JPEG``) and its answer is what ``trainyard infer``
prints for the same image, as in the seed's serving section::

    {"pred_label": 58, "pred_score": 0.381, "pred_class": "water snake"}

The archive holds the checkpoint (its ``serializedFile``) and the resolved spec (``spec.py``, written by ``jobspecs.dumps``); the model
is built with :func:`workers.apis.init_model` and each image goes through the spec's test pipeline with
:func:`workers.apis.inference_model`, so the serving environment needs Trainyard installed (as MMCls's
``mmcls-serve`` image installs MMCls).
"""

from __future__ import annotations

import base64
import os
import tempfile

__all__ = ["TrainyardHandler", "handle"]

SPEC_FILE = "spec.py"


class TrainyardHandler:
    """Loads the archive's model once and classifies the images of each request batch."""

    def __init__(self):
        self.model = None
        self.initialized = False

    def initialize(self, context) -> None:
        """Build the model from the unpacked archive (``context.system_properties['model_dir']``)."""
        import torch

        import jobspecs
        from workers.apis import init_model

        properties = context.system_properties
        model_dir = properties.get("model_dir")
        checkpoint = os.path.join(model_dir, context.manifest["model"]["serializedFile"])
        spec = jobspecs.load(os.path.join(model_dir, SPEC_FILE))  # parsed, never executed
        gpu = properties.get("gpu_id")
        device = f"cuda:{gpu}" if torch.cuda.is_available() and gpu is not None else "cpu"
        self.model = init_model(spec, checkpoint, device=device)
        self.initialized = True

    @staticmethod
    def _image_bytes(row) -> bytes:
        body = row.get("data") or row.get("body") if isinstance(row, dict) else row
        if isinstance(body, str):  # a JSON client may send base64
            body = base64.b64decode(body)
        if not isinstance(body, (bytes, bytearray)) or not body:
            raise ValueError("each request's body must be an image file")
        return bytes(body)

    def classify(self, image: bytes) -> dict:
        """``{'pred_label', 'pred_score', 'pred_class'}`` of one image file's bytes."""
        from workers.apis import inference_model

        # through a file, so the spec's LoadImageFromFile (colour type, pixel limit) reads it as `infer` does
        with tempfile.TemporaryDirectory(prefix="trainyard-serve-") as folder:
            path = os.path.join(folder, "image")
            with open(path, "wb") as f:
                f.write(image)
            return inference_model(self.model, path)

    def handle(self, data, context) -> list[dict] | None:
        """One answer per request of the batch (``None`` for TorchServe's initialising call)."""
        if not self.initialized:
            self.initialize(context)
        if data is None:
            return None
        return [self.classify(self._image_bytes(row)) for row in data]


_service = TrainyardHandler()


def handle(data, context):
    """TorchServe's entry point."""
    return _service.handle(data, context)
