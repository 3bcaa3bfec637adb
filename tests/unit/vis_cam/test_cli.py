"""``trainyard vis-cam IMG SPEC CKPT``: its flags (MMCls vis_cam.py's), the picture it writes, and the errors a
user gets for a bad layer name, a misspelt method or a category the model does not have."""

from __future__ import annotations

import argparse
import json

import cv2
import pytest

from workers.apis import inference_model, init_model
from workers.tools.vis_cam import add_parser, get_layer


def vis_cam(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="trainyard")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["vis-cam", *argv])
    return args.func(args)


def test_it_writes_the_image_and_one_blended_map_per_category(corner_run, both_corners, tmp_path, capsys):
    spec_file, checkpoint = corner_run
    out = tmp_path / "pictures" / "cam.png"

    code = vis_cam(str(both_corners), str(spec_file), str(checkpoint), "--method", "gradcam++",
                   "--target-category", "0", "1", "--save-path", str(out))

    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(line["category"], line["class"]) for line in lines] == [(0, "top-left"), (1, "bottom-right")]
    assert all(line["method"] == "GradCAMPlusPlus" and line["target_layers"] == ["backbone.layer4"]
               for line in lines)
    picture = cv2.imread(str(out))
    assert picture.shape == (32, 3 * 32, 3)  # the image, then a map per category
    original = cv2.imread(str(both_corners))
    assert (picture[:, :32] == original).all()
    assert (picture[:, 32:64] != picture[:, 64:]).any()


def test_without_save_path_it_says_nothing_is_shown(corner_run, top_left, capsys):
    spec_file, checkpoint = corner_run

    assert vis_cam(str(top_left), str(spec_file), str(checkpoint), "--eigen-smooth", "--aug-smooth") == 0

    captured = capsys.readouterr()
    line = json.loads(captured.out.splitlines()[0])
    inferred = inference_model(init_model(str(spec_file), checkpoint), str(top_left))  # trainyard infer's answer
    assert (line["category"], line["class"]) == (inferred["pred_label"], inferred["pred_class"]) == (0, "top-left")
    assert line["score"] == pytest.approx(inferred["pred_score"], abs=1e-4)
    assert "no --save-path" in captured.err


def test_preview_model_prints_the_module_names_and_stops(corner_run, capsys):
    spec_file, checkpoint = corner_run

    assert vis_cam("no-such-image.png", str(spec_file), str(checkpoint), "--preview-model") == 0

    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "backbone.layer4.1.conv2" in names and "head.fc" in names


def test_target_layers_take_mmcls_names_with_indices(corner_run, top_left, capsys):
    spec_file, checkpoint = corner_run
    model = init_model(str(spec_file), checkpoint)
    assert get_layer(model, "backbone.layer4[-1].conv2") is model.backbone.layer4[1].conv2
    assert get_layer(model, "backbone.layer4.1") is model.backbone.layer4[1]

    assert vis_cam(str(top_left), str(spec_file), str(checkpoint), "--target-layers", "backbone.layer4[-1].conv2",
                   "backbone.layer3", "--method", "LayerCAM") == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["target_layers"] == [
        "backbone.layer4[-1].conv2", "backbone.layer3"]


def test_a_bad_layer_name_lists_close_names(corner_run, top_left):
    spec_file, checkpoint = corner_run

    with pytest.raises(ValueError, match=r"no module 'backbone.layer4.1.conv9'.*close names: .*backbone\.layer4\.1\.conv2"):
        vis_cam(str(top_left), str(spec_file), str(checkpoint), "--target-layers", "backbone.layer4.1.conv9")
    with pytest.raises(ValueError, match=r"no module 'backbone.layer4\[5\]'"):
        vis_cam(str(top_left), str(spec_file), str(checkpoint), "--target-layers", "backbone.layer4[5]")


def test_a_layer_the_forward_pass_never_calls_is_named(corner_run, top_left):
    spec_file, checkpoint = corner_run

    with pytest.raises(ValueError, match=r"'head.compute_loss' \(CrossEntropyLoss\) is not called"):
        vis_cam(str(top_left), str(spec_file), str(checkpoint), "--target-layers", "head.compute_loss")


def test_a_layer_that_answers_a_tuple_is_named_with_its_parts(corner_run, top_left):
    spec_file, checkpoint = corner_run

    with pytest.raises(ValueError, match=r"'backbone' answers tuple, not a \(N, C, H, W\) map.*try one of its "
                                         r"parts: backbone.conv1"):
        vis_cam(str(top_left), str(spec_file), str(checkpoint), "--target-layers", "backbone")


def test_a_misspelt_method_suggests_the_right_one(corner_run, top_left):
    spec_file, checkpoint = corner_run

    with pytest.raises(ValueError, match=r"unknown CAM method 'GradCma'; did you mean GradCAM\b"):
        vis_cam(str(top_left), str(spec_file), str(checkpoint), "--method", "GradCma")


def test_a_category_the_model_does_not_have_is_refused(corner_run, top_left):
    spec_file, checkpoint = corner_run

    with pytest.raises(ValueError, match=r"target category 2 is out of range: the model has 2 classes \(0 to 1\)"):
        vis_cam(str(top_left), str(spec_file), str(checkpoint), "--target-category", "0", "2")



def test_a_vit_like_layer_is_reshaped_without_its_class_token(vit_run, top_left, tmp_path, capsys):
    spec_file, checkpoint = vit_run
    out = tmp_path / "vit.png"

    assert vis_cam(str(top_left), str(spec_file), str(checkpoint), "--vit-like", "--num-extra-tokens", "1",
                   "--target-layers", "backbone.layers[-1].ln1", "--save-path", str(out)) == 0

    assert json.loads(capsys.readouterr().out.splitlines()[0])["target_layers"] == ["backbone.layers[-1].ln1"]
    assert cv2.imread(str(out)).shape == (32, 64, 3)


def test_a_wrong_number_of_extra_tokens_is_named(vit_run, top_left):
    spec_file, checkpoint = vit_run

    with pytest.raises(ValueError, match=r"15 tokens \(after 2 extra tokens\) do not make a grid of a 32x32 input"):
        vis_cam(str(top_left), str(spec_file), str(checkpoint), "--num-extra-tokens", "2")


def test_a_layer_no_gradient_reaches_gets_a_flat_map_and_a_warning(vit_run, top_left, capsys):
    spec_file, checkpoint = vit_run

    assert vis_cam(str(top_left), str(spec_file), str(checkpoint), "--target-layers", "backbone.ln1",
                   "--method", "EigenGradCAM") == 0

    assert "is flat: no gradient of its score reaches backbone.ln1" in capsys.readouterr().err
    # the default: the last block's ln1, whose patch tokens reach the class token
    assert vis_cam(str(top_left), str(spec_file), str(checkpoint), "--method", "EigenGradCAM") == 0
    assert "is flat" not in capsys.readouterr().err
