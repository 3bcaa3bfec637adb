"""``trainyard export``: a checkpoint as an ONNX file, a TorchScript module or a TorchServe archive
(MMCls 0.25's ``tools/deployment/``, seed chapters 47-50), each checked against PyTorch with ``--verify``.

    model, classes = load_export_model(spec, 'latest.pth')
    export_onnx(model, 'model.onnx', (1, 3, 224, 224), verify=True, classes=classes)
"""

from workers.export.model import InferenceModel, input_channels, load_export_model, reparameterize
from workers.export.to_onnx import DEFAULT_OPSET, OnnxClassifier, export_onnx
from workers.export.to_torchscript import export_torchscript
from workers.export.torchserve import build_torchserve_archive
from workers.export.verify import ATOL, RTOL, ExportMismatch, compare_outputs

__all__ = ["ATOL", "DEFAULT_OPSET", "RTOL", "ExportMismatch", "InferenceModel", "OnnxClassifier",
           "build_torchserve_archive", "compare_outputs", "export_onnx", "export_torchscript", "input_channels",
           "load_export_model",
           "reparameterize"]
