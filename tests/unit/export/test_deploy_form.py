"""RepVGG and RepMLP are exported in their deploy form: one convolution per RepVGG block, the training-time
branches folded, whether the checkpoint is training-time or already re-parameterised by `trainyard reparam`."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch

from workers.cli import main
from workers.engine.checkpoint import save_checkpoint
from workers.models import build_model

SPEC = "repvgg/repvgg-A0_4xb64-coslr-120e_in1k.py"


def _scores(path, img):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": img})[0]


def test_repvgg_exports_its_deploy_form_from_either_checkpoint(tmp_path, capsys):
    import jobspecs

    spec = jobspecs.load_library(SPEC)
    torch.manual_seed(0)
    model = build_model(spec["model"]).eval()
    for module in model.modules():  # BN statistics of a trained model, so the folded branches matter
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    train_ckpt = save_checkpoint(tmp_path / "train.pth", model, None, {"CLASSES": None}, link_latest=False)
    assert main(["reparam", SPEC, str(train_ckpt), str(tmp_path / "deploy.pth")]) == 0

    img = torch.randn(2, 3, 32, 32).numpy()
    with torch.no_grad():
        reference = model.simple_test(torch.from_numpy(img)).numpy()
    for name in ("train", "deploy"):
        out = tmp_path / f"{name}.onnx"
        assert main(["export", "onnx", SPEC, str(tmp_path / f"{name}.pth"), str(out), "--shape", "32",
                     "--dynamic-export", "--verify"]) == 0
        convs = [n for n in onnx.load(str(out)).graph.node if n.op_type == "Conv"]
        assert len(convs) == 22  # RepVGG-A0: 1 + 2 + 4 + 14 + 1 blocks, one 3x3 conv each once folded
        np.testing.assert_allclose(_scores(out, img), reference, atol=1e-5, rtol=1e-3)
    assert "verified" in capsys.readouterr().out
