"""ONNX export (MMCls's ``tools/deployment/pytorch2onnx.py``, seed chapter 47) and ONNX Runtime scoring
(``tools/deployment/test.py``).

The graph is written by PyTorch's TorchScript-based exporter (``torch.onnx.export(dynamo=False)``): it
takes the seed's opset 11 default and needs no ``onnxscript``; the newer ``torch.export`` exporter starts
at opset 18. The class names of the checkpoint travel in the file's metadata (``classes``), so
``trainyard test`` on the ``.onnx`` names its predictions as with the checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from workers.export.verify import compare_outputs

__all__ = ["DEFAULT_OPSET", "OnnxClassifier", "export_onnx", "onnx_scores"]

DEFAULT_OPSET = 11  # the seed's --opset-version default
INPUT_NAME = "input"
OUTPUT_NAME = "probs"


@contextlib.contextmanager
def _no_stdout():
    """Standard output (the file descriptor: the exporter prints from C++) discarded for a while."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def _random_input(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def _session(path: str | Path, device: str | torch.device = "cpu"):
    try:
        import onnxruntime as ort
    except ImportError:
        raise RuntimeError("running an ONNX model needs onnxruntime (pip install onnxruntime)") from None
    providers = ["CPUExecutionProvider"]
    if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), providers=providers)


def onnx_scores(session, array: np.ndarray) -> np.ndarray:
    """The scores of an ONNX Runtime session for one ``(N, C, H, W)`` float32 batch."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(array, dtype=np.float32)})[0]


def _simplify(model_proto, input_shape: tuple[int, ...], dynamic: bool):
    try:
        import onnxsim
    except ImportError:
        raise RuntimeError("--simplify needs onnxsim (pip install onnxsim); export without --simplify") from None
    kwargs = {"test_input_shapes": {INPUT_NAME: list(input_shape)}} if dynamic else {}
    simplified, ok = onnxsim.simplify(model_proto, **kwargs)
    if not ok:
        raise RuntimeError("onnxsim's simplified model does not agree with the exported one; "
                           "export without --simplify")
    return simplified


def export_onnx(model: nn.Module, out: str | Path, input_shape: tuple[int, int, int, int], *,
                opset_version: int = DEFAULT_OPSET, dynamic_export: bool = False, simplify: bool = False,
                verify: bool = False, classes: list[str] | None = None, show: bool = False) -> dict:
    """Write ``model`` (an :class:`~workers.export.model.InferenceModel`) as an ONNX file.

    Args:
        model: The model in eval mode, on the CPU.
        out: The ``.onnx`` file to write.
        input_shape: ``(N, C, H, W)`` of the traced input.
        opset_version: ONNX opset.
        dynamic_export: Batch size, height and width as dynamic axes (the seed's ``--dynamic-export``).
        simplify: Run onnxsim on the graph.
        verify: Run the file with ONNX Runtime beside PyTorch on a random input (and, if dynamic, on a batch
            of another size) and raise :class:`~workers.export.verify.ExportMismatch` when they disagree.
        classes: Class names to store in the file's metadata.
        show: Print the graph.

    Returns:
        ``{'path', 'nodes', 'opset', 'max_abs_diff'}`` (``max_abs_diff`` is ``None`` without ``verify``).
    """
    try:
        import onnx
    except ImportError:
        raise RuntimeError("ONNX export needs onnx and onnxruntime (pip install onnx onnxruntime)") from None

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = _random_input(input_shape)
    dynamic_axes = None
    if dynamic_export:
        dynamic_axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch"}}
    with warnings.catch_warnings():
        # the TorchScript-based exporter is deprecated in favour of torch.export's (see the module docstring);
        # tracer warnings name Python values frozen into the graph, which --verify checks for
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*(onnx|ONNX|export).*")
        with torch.no_grad():
            try:  # on failure the exporter prints its whole graph: keep it out of the user's terminal
                with _no_stdout():
                        torch.onnx.export(model, (dummy,), str(out), dynamo=False, opset_version=opset_version,
                                      input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                      dynamic_axes=dynamic_axes, do_constant_folding=True, export_params=True)
            except torch.onnx.errors.UnsupportedOperatorError as error:
                needed = re.search(r"added in version (\d+)", str(error))
                hint = f"; export with --opset-version {needed.group(1)}" if needed else ""
                first = str(error).splitlines()[0].replace(", try exporting with this version", "")
                raise RuntimeError(f"{first}{hint}") from None
    proto = onnx.load(str(out))
    if simplify:
        proto = _simplify(proto, input_shape, dynamic_export)
    if classes is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = "classes", json.dumps(list(classes))
    onnx.save(proto, str(out))
    if show:
        print(onnx.helper.printable_graph(proto.graph))
    result = {"path": out, "nodes": len(proto.graph.node), "opset": opset_version, "max_abs_diff": None}
    if verify:
        session = _session(out)
        inputs = [dummy]
        if dynamic_export:
            inputs.append(_random_input((input_shape[0] + 1, *input_shape[1:])))
        largest = 0.0
        for array in inputs:
            with torch.no_grad():
                reference = model(array).float().numpy()
            largest = max(largest, compare_outputs(reference, onnx_scores(session, array.numpy()),
                                                   what="ONNX Runtime"))
        result["max_abs_diff"] = largest
    return result


class OnnxClassifier:
    """An ONNX file as ``trainyard test`` scores a model: ``simple_test(img)`` -> class scores.

    Args:
        path: The ``.onnx`` file (from ``trainyard export onnx``).
        device: ``'cuda'`` uses ONNX Runtime's CUDA provider when it is installed, else the CPU.

    Attributes:
        CLASSES: The class names stored at export, else ``None``.
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu"):
        self.path = Path(path)
        self.session = _session(self.path, device)
        self.input_shape = list(self.session.get_inputs()[0].shape)
        classes = self.session.get_modelmeta().custom_metadata_map.get("classes")
        self.CLASSES = json.loads(classes) if classes else None

    def _check(self, shape: tuple[int, ...]) -> None:
        fixed = [(i, d) for i, d in enumerate(self.input_shape) if isinstance(d, int) and i > 0]
        if len(shape) != len(self.input_shape) or any(shape[i] != d for i, d in fixed):
            shown = "x".join(str(d) if isinstance(d, int) else "?" for d in self.input_shape)
            raise ValueError(f"{self.path.name} takes inputs of shape {shown} but the spec's test pipeline gives "
                             f"{'x'.join(map(str, shape))}: export with --shape matching the pipeline "
                             f"(H W of its crop/resize) or with --dynamic-export")

    def simple_test(self, img: torch.Tensor) -> torch.Tensor:
        array = img.detach().float().cpu().numpy()
        self._check(array.shape)
        batch = self.input_shape[0]
        if isinstance(batch, int) and batch != array.shape[0]:  # a static batch: run it in pieces
            if array.shape[0] % batch:
                parts = [onnx_scores(self.session, array[i:i + 1].repeat(batch, axis=0))[:1]
                         for i in range(array.shape[0])]
            else:
                parts = [onnx_scores(self.session, array[i:i + batch]) for i in range(0, array.shape[0], batch)]
            return torch.from_numpy(np.concatenate(parts))
        return torch.from_numpy(onnx_scores(self.session, array))

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return self.simple_test(img)
