"""``trainyard export onnx|torchscript``: the files load, answer as PyTorch does, and --verify catches a model
that does not."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn

from workers.apis import init_model
from workers.cli import main
from workers.export import ExportMismatch, compare_outputs, export_onnx


def _images(spec_file, checkpoint, root) -> tuple[torch.Tensor, np.ndarray]:
    """A batch of real test images (normalised) and the PyTorch checkpoint's scores on them."""
    import jobspecs
    from workers.data import build_dataloader, build_dataset, prepare_images

    spec = jobspecs.load(str(spec_file))
    dataset = build_dataset(spec["data"]["test"], {"test_mode": True}, data_root=root)
    batch = next(iter(build_dataloader(dataset, 8, 0, shuffle=False)))
    img = prepare_images(batch)
    model = init_model(spec, checkpoint)
    with torch.no_grad():
        return img, model.simple_test(img).numpy()


def test_it_exports_an_onnx_model_that_scores_as_pytorch(demo_run, tmp_path, capsys):
    spec_file, checkpoint, root = demo_run
    out = tmp_path / "demo.onnx"
    assert main(["export", "onnx", str(spec_file), str(checkpoint), str(out), "--shape", "16",
                 "--dynamic-export", "--verify"]) == 0
    printed = capsys.readouterr().out
    assert f"ONNX model saved to {out}" in printed
    assert "verified: ONNX Runtime agrees with PyTorch (largest absolute difference" in printed

    img, reference = _images(spec_file, checkpoint, root)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"input": img.numpy()})[0]  # batch 8: the batch axis is dynamic
    assert scores.shape == (8, 10)
    np.testing.assert_allclose(scores, reference, atol=1e-5, rtol=1e-3)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)  # softmax scores, as simple_test
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["classes"]) == [str(i) for i in range(10)]


def test_it_exports_a_static_onnx_model_at_the_seed_defaults(demo_run, tmp_path):
    spec_file, checkpoint, _ = demo_run
    out = tmp_path / "static.onnx"
    assert main(["export", "onnx", str(spec_file), str(checkpoint), str(out), "--shape", "16", "16"]) == 0
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 11
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 16, 16]


def test_it_simplifies_the_graph_and_still_verifies(demo_run, tmp_path, capsys):
    spec_file, checkpoint, _ = demo_run
    plain, simple = tmp_path / "plain.onnx", tmp_path / "simple.onnx"
    assert main(["export", "onnx", str(spec_file), str(checkpoint), str(plain), "--shape", "16",
                 "--dynamic-export"]) == 0
    assert main(["export", "onnx", str(spec_file), str(checkpoint), str(simple), "--shape", "16",
                 "--simplify", "--verify", "--dynamic-export"]) == 0
    assert "simplified" in capsys.readouterr().out
    assert len(onnx.load(str(simple)).graph.node) <= len(onnx.load(str(plain)).graph.node)


def test_it_exports_a_torchscript_module_that_scores_as_pytorch(demo_run, tmp_path, capsys):
    spec_file, checkpoint, root = demo_run
    out = tmp_path / "demo.pt"
    assert main(["export", "torchscript", str(spec_file), str(checkpoint), str(out), "--shape", "16",
                 "--verify"]) == 0
    assert "verified: the TorchScript module agrees with PyTorch" in capsys.readouterr().out
    extra = {"classes.json": ""}
    module = torch.jit.load(str(out), _extra_files=extra)
    img, reference = _images(spec_file, checkpoint, root)
    with torch.no_grad():
        np.testing.assert_allclose(module(img).numpy(), reference, atol=1e-5, rtol=1e-3)
    assert json.loads(extra["classes.json"])[3] == "3"


class _Noisy(nn.Module):
    """A model whose PyTorch and exported runs differ: fresh noise on every call."""

    def forward(self, img):
        return torch.softmax(img.flatten(1) + torch.rand_like(img.flatten(1)), dim=1)


def test_verify_fails_naming_the_largest_difference(tmp_path):
    with pytest.raises(ExportMismatch, match=r"ONNX Runtime and PyTorch disagree: largest absolute difference") as caught:
        export_onnx(_Noisy().eval(), tmp_path / "noisy.onnx", (1, 3, 4, 4), verify=True)
    assert caught.value.max_abs_diff > 1e-3


def test_compare_outputs_takes_kernel_noise_and_refuses_a_real_difference():
    reference = np.full((2, 1000), 1e-3)
    assert compare_outputs(reference, reference * (1 + 1e-4)) == pytest.approx(1e-7)
    changed = reference.copy()
    changed[1, 7] = 2e-3
    with pytest.raises(ExportMismatch, match=r"largest absolute difference 0\.001 .* at \(1, 7\)"):
        compare_outputs(reference, changed)


def test_it_refuses_a_checkpoint_of_another_model(demo_run, tmp_path, capsys):
    _, checkpoint, _ = demo_run
    code = main(["export", "onnx", "resnet/resnet18_8xb16_cifar10.py", str(checkpoint), str(tmp_path / "x.onnx"),
                 "--shape", "32"])
    assert code == 1
    err = capsys.readouterr().err
    assert "the checkpoint does not fit the spec's model" in err
    assert not (tmp_path / "x.onnx").exists()


def test_it_says_what_is_wrong_with_a_shape(demo_run, tmp_path, capsys):
    spec_file, checkpoint, _ = demo_run
    assert main(["export", "torchscript", str(spec_file), str(checkpoint), str(tmp_path / "x.pt"),
                 "--shape", "16", "16", "3"]) == 1
    assert "--shape takes H or H W, got 3 values" in capsys.readouterr().err


def test_simplify_without_onnxsim_says_how_to_get_it(demo_run, tmp_path, capsys, monkeypatch):
    spec_file, checkpoint, _ = demo_run
    monkeypatch.setitem(sys.modules, "onnxsim", None)  # as if it were not installed
    assert main(["export", "onnx", str(spec_file), str(checkpoint), str(tmp_path / "x.onnx"), "--simplify"]) == 1
    assert "--simplify needs onnxsim (pip install onnxsim)" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_it_exports_a_checkpoint_with_mmcls_names(tmp_path):
    """A checkpoint as MMCls 0.25 saves it (its key names) loads as `test` loads it, and the export answers with
    its weights."""
    import jobspecs
    from tests.support.mmcls_keys import convnext_to_mmcls
    from workers.models import build_model

    spec_name = "convnext/convnext-tiny_32xb128_in1k.py"
    torch.manual_seed(0)
    model = build_model(jobspecs.load_library(spec_name)["model"]).eval()
    state = {(f"backbone.{convnext_to_mmcls(k[len('backbone.'):])}" if k.startswith("backbone.") else k): v
             for k, v in model.state_dict().items()}
    assert state.keys() != model.state_dict().keys()
    checkpoint = tmp_path / "mmcls.pth"
    torch.save({"meta": {"CLASSES": [f"c{i}" for i in range(1000)]}, "state_dict": state}, checkpoint)
    out = tmp_path / "convnext.onnx"
    assert main(["export", "onnx", spec_name, str(checkpoint), str(out), "--shape", "32", "--verify"]) == 0
    img = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        reference = model.simple_test(img).numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": img.numpy()})[0], reference, atol=1e-6, rtol=1e-3)


def test_it_names_the_opset_an_operator_needs(tmp_path, capfd):
    import jobspecs
    from workers.engine.checkpoint import save_checkpoint
    from workers.models import build_model

    spec_name = "deit/deit-tiny_pt-4xb256_in1k.py"
    model = build_model(jobspecs.load_library(spec_name, cfg_options=["model.backbone.img_size=32"])["model"])
    checkpoint = save_checkpoint(tmp_path / "deit.pth", model, None, {}, link_latest=False)
    args = ["export", "onnx", spec_name, str(checkpoint), str(tmp_path / "deit.onnx"), "--shape", "32",
            "--cfg-options", "model.backbone.img_size=32"]
    assert main(args) == 1
    captured = capfd.readouterr()  # the file descriptors: the exporter prints from C++
    assert "'aten::scaled_dot_product_attention' to ONNX opset version 11 is not supported" in captured.err
    assert "export with --opset-version 14" in captured.err
    assert len(captured.out.splitlines()) < 5  # not the exporter's dump of its graph
    assert main([*args, "--opset-version", "14", "--verify"]) == 0
