"""``trainyard vis-cam``: class activation maps of a checkpoint on one image, as MMCls 0.25's
``tools/visualizations/vis_cam.py`` (seed 51.3), computed by the ``grad-cam`` package (``pytorch_grad_cam``).

The image goes through the spec's test pipeline as ``trainyard infer`` does (:func:`workers.apis.init_model`
loads the checkpoint); the map of each target category is computed on the model's raw class scores (the head's
logits, the sum of Conformer's two branches), resized to the pipeline's output image and blended on it.

Target layers are module names of the classifier, as MMCls writes them (``backbone.layer4.1.conv2``,
``backbone.layers[-1].ln1``: an index in brackets or as a dotted number, negative ones counted from the end).
Without ``--target-layers`` every backbone family has a default (:data:`DEFAULT_TARGET_LAYERS`): the output of
the last stage for CNNs, the input norm of the last block for ViT-likes with a class token (whose last block's
patch tokens do not reach the score), the final norm for token models without one. Token outputs
``(N, L, C)`` are reshaped to ``(N, C, H, W)`` after dropping the extra tokens (``--vit-like``; automatic
when the layer's output has three dimensions), their number read from the backbone's ``num_extra_tokens``
(or its ``cls_token`` / ``dist_token``) unless ``--num-extra-tokens`` says it.

    trainyard vis-cam digit.png demo.py epoch_6.pth --method GradCAM++ --save-path cam.png
"""

from __future__ import annotations

import argparse
import copy
import difflib
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch loads when a map is made, not when the CLI builds its parser
    import torch
    import torch.nn as nn

__all__ = ["DEFAULT_TARGET_LAYERS", "METHODS", "CamResult", "add_parser", "blend", "compute_cam",
           "default_target_layers", "get_layer", "load_image", "preview_model", "reshape_tokens", "run"]

# --method (case-insensitive) -> pytorch_grad_cam class name
METHODS = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM",
    "eigencam": "EigenCAM",
    "eigengradcam": "EigenGradCAM",
    "layercam": "LayerCAM",
}
SHOWN_METHODS = ("GradCAM", "GradCAM++", "XGradCAM", "EigenCAM", "EigenGradCAM", "LayerCAM")

# backbone type -> default target layer (a name of the classifier's modules)
_LAST_LAYER4 = "backbone.layer4"
DEFAULT_TARGET_LAYERS = {
    # CNNs: the output of the last stage (after its residual sums and activations)
    "ResNet": _LAST_LAYER4, "ResNetV1c": _LAST_LAYER4, "ResNetV1d": _LAST_LAYER4, "ResNet_CIFAR": _LAST_LAYER4,
    "ResNeXt": _LAST_LAYER4, "SEResNet": _LAST_LAYER4, "SEResNeXt": _LAST_LAYER4, "Res2Net": _LAST_LAYER4,
    "ResNeSt": _LAST_LAYER4, "RegNet": _LAST_LAYER4,
    "CSPDarkNet": "backbone.stages[-1]", "CSPResNet": "backbone.stages[-1]", "CSPResNeXt": "backbone.stages[-1]",
    "ConvMixer": "backbone.stages[-1]",
    "ConvNeXt": "backbone.stages[-1]",
    "HorNet": "backbone.stages[-1]",
    "EfficientFormer": "backbone.stages[-1]",
    "PoolFormer": "backbone.norm6",  # its forward calls a stage's parts, never the stage itself
    "DenseNet": "backbone.transitions[-1]",
    "EfficientNet": "backbone.layers[-1]",
    "HRNet": "neck.0.final_layer",  # HRFuseScales' fused map: the last stage itself answers a tuple of scales
    "LeNet5": "backbone.features.3",  # the second conv (5x5 at 32x32); the last one is 1x1
    "MobileNetV2": "backbone.conv2",
    "MobileNetV3": "backbone.layer12",
    "RepVGG": "backbone.stage_4",
    "RepMLPNet": "backbone.final_norm",
    "ShuffleNetV1": "backbone.layers[-1]",
    "ShuffleNetV2": "backbone.layers[-1]",
    "VGG": "backbone.features[-1]",
    "VAN": "backbone.blocks4[-1]",
    "Conformer": "backbone.conv_trans_12.fusion_block",  # the CNN branch's last block
    # token models without extra tokens: the final norm (its tokens are pooled into the score)
    "SwinTransformer": "backbone.norm3",
    "SwinTransformerV2": "backbone.norm3",
    "MViT": "backbone.norm3",
    "MlpMixer": "backbone.norm",
    "SVT": "backbone.norm_after_stage3", "PCPVT": "backbone.norm_after_stage3",
    # token models with a class token: the first norm of the last block
    "VisionTransformer": "backbone.layers[-1].ln1",
    "DistilledVisionTransformer": "backbone.layers[-1].ln1",
    "T2T_ViT": "backbone.encoder[-1].ln1",
    "TNT": "backbone.blocks[-1].norm_out",
}


@dataclass
class CamResult:
    """The maps of one image: ``cams`` ``(K, H, W)`` in [0, 1], one per category, the size of ``image``."""

    cams: np.ndarray
    categories: list[int]
    scores: list[float]  # the model's score of each category (softmax, or sigmoid for multi-label heads)
    image: np.ndarray  # the displayed image, HxWx3 BGR uint8 (the test pipeline's output, not normalised)
    target_layers: list[str]
    method: str


def _method_class(name: str):
    import pytorch_grad_cam

    key = name.lower().replace("-", "").replace("_", "")
    if key not in METHODS:
        close = difflib.get_close_matches(key, list(METHODS), n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(SHOWN_METHODS[list(METHODS).index(c)] for c in close)}?" if close else ""
        raise ValueError(f"unknown CAM method {name!r}{hint} (supported: {', '.join(SHOWN_METHODS)})")
    return _oriented(getattr(pytorch_grad_cam, METHODS[key]))


def _oriented(cam_class):
    """``cam_class`` with its principal-component maps (EigenCAM, EigenGradCAM, ``eigen_smooth``) turned the way
    of the plain map: the sign of an SVD's first component is arbitrary, and ``pytorch_grad_cam`` keeps its
    positive side, so a raw map can light up the background instead of the object."""
    eigen = cam_class.__name__ in ("EigenCAM", "EigenGradCAM")

    class Oriented(cam_class):
        def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth):
            cam = super().get_cam_image(input_tensor, target_layer, targets, activations, grads, eigen_smooth)
            if eigen:  # the plain map: the summed (gradient-weighted) activations
                reference = (activations * grads if cam_class.__name__ == "EigenGradCAM" else activations).sum(1)
            elif eigen_smooth:
                reference = super().get_cam_image(input_tensor, target_layer, targets, activations, grads, False)
            else:
                return cam
            flip = (cam * reference).reshape(len(cam), -1).sum(1) < 0
            return np.where(flip[:, None, None], -cam, cam)

    Oriented.__name__ = Oriented.__qualname__ = cam_class.__name__
    return Oriented


_INDEX = re.compile(r"\[(-?\d+)\]")


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The module ``name`` of ``model`` (``backbone.layer4.1.conv2``, ``backbone.layers[-1].ln1``).

    Raises:
        ValueError: No such module; the message lists the closest names of the model's modules.
    """
    import torch.nn as nn

    parts = [p for p in _INDEX.sub(r".\1", name.strip()).split(".") if p != ""]
    node = model
    for at, part in enumerate(parts):
        child = None
        if re.fullmatch(r"-?\d+", part) and isinstance(node, (nn.Sequential, nn.ModuleList)):
            index = int(part)
            if -len(node) <= index < len(node):
                child = node[index]
        elif part in dict(node.named_children()):
            child = getattr(node, part)
        if child is None:
            names = [n for n, _ in model.named_modules() if n]
            close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
            if not close:  # the children of the deepest module that matched
                prefix = ".".join(parts[:at])
                close = [f"{prefix}.{n}" if prefix else n for n, _ in node.named_children()][:8]
            hint = f"; close names: {', '.join(close)}" if close else ""
            raise ValueError(f"the model has no module {name!r} (no {part!r} in "
                             f"{'.'.join(parts[:at]) or 'the model'}){hint}; --preview-model lists them all")
        node = child
    return node


def default_target_layers(model: nn.Module) -> list[str]:
    """The default target layer of the classifier's backbone family, else its last norm layer (as MMCls)."""
    import torch.nn as nn

    kind = type(model.backbone).__name__
    if kind in DEFAULT_TARGET_LAYERS:
        return [DEFAULT_TARGET_LAYERS[kind]]
    norms = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
    names = [f"backbone.{n}" for n, m in model.backbone.named_modules() if n and isinstance(m, norms)]
    if not names:
        raise ValueError(f"no default target layer for {kind}: give --target-layers (see --preview-model)")
    return [names[-1]]


def num_extra_tokens(model: nn.Module) -> int:
    """Class/distillation tokens the backbone puts before the patch tokens."""
    import torch

    backbone = model.backbone
    if isinstance(getattr(backbone, "num_extra_tokens", None), int):
        return backbone.num_extra_tokens
    return sum(isinstance(getattr(backbone, t, None), torch.Tensor) for t in ("cls_token", "dist_token"))


def _grid(tokens: int, height: int, width: int, extra: int) -> tuple[int, int]:
    """``(h, w)`` with ``h * w == tokens`` closest to the input's aspect ratio.

    Raises:
        ValueError: No grid within 30% of it: the number of extra tokens is likely wrong.
    """
    best = None
    for h in range(1, tokens + 1):
        if tokens % h == 0:
            gap = abs(math.log((h / (tokens // h)) / (height / width)))
            if best is None or gap < best[0]:
                best = (gap, h, tokens // h)
    if best is None or best[0] > math.log(1.3):
        raise ValueError(f"{tokens} tokens (after {extra} extra tokens) do not make a grid of a {height}x{width} "
                         "input; is --num-extra-tokens right?")
    return best[1], best[2]


def reshape_tokens(extra: int, input_hw: tuple[int, int]):
    """The reshape transform of token outputs: ``(N, L, C)`` -> ``(N, C, h, w)`` without the first ``extra``
    tokens; 4-D outputs pass as they are."""

    def transform(tensor):
        if isinstance(tensor, (list, tuple)):
            tensor = tensor[0]
        if tensor.dim() != 3:
            return tensor
        tokens = tensor[:, extra:, :]
        h, w = _grid(tokens.shape[1], *input_hw, extra)
        return tokens.reshape(tokens.shape[0], h, w, tokens.shape[2]).permute(0, 3, 1, 2).contiguous()

    return transform


def _scores_of(classifier: nn.Module) -> nn.Module:
    """The classifier's raw class scores ``(N, num_classes)``: what the maps explain."""
    import torch.nn as nn

    class Scores(nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = classifier

        def forward(self, img):
            scores = self.classifier.head(self.classifier.extract_feat(img))
            if isinstance(scores, (list, tuple)):  # Conformer: the CNN and transformer branches
                scores = sum(scores)
            return scores

    return Scores()


def _test_steps(model: nn.Module) -> list:
    try:
        return copy.deepcopy(model.cfg["data"]["test"]["pipeline"])
    except (AttributeError, KeyError, TypeError):
        raise KeyError("the model's spec (model.cfg) has no data.test.pipeline; build it with init_model") from None


def load_image(model: nn.Module, img: str | Path | np.ndarray, device) -> tuple[torch.Tensor, np.ndarray]:
    """The image (a file, or an HxWxC BGR uint8 array as ``inference_model`` takes) through the spec's test
    pipeline: ``(input (1, C, H, W), displayed HxWx3 BGR uint8)``; the displayed image is the same pipeline
    without ``Normalize`` (MMCls's vis_cam shows the same)."""
    import torch

    from workers.apis import _UseArray
    from workers.data import Compose, collate, prepare_images

    steps = _test_steps(model)
    if isinstance(img, np.ndarray):
        if steps and steps[0].get("type") == "LoadImageFromFile":
            steps[0] = _UseArray()

        def through(pipeline):
            return Compose(pipeline)({"img": img.copy()})
    else:
        if not Path(img).is_file():
            raise FileNotFoundError(f"image not found: {img}")

        def through(pipeline):
            return Compose(pipeline)({"img_info": {"filename": str(img)}, "img_prefix": None})

    data = through(steps)
    tensor = prepare_images(collate([data]), device)
    shown = through([s for s in steps if not isinstance(s, dict) or s.get("type") != "Normalize"])["img"]
    shown = shown.detach().cpu().numpy() if isinstance(shown, torch.Tensor) else np.asarray(shown)
    if shown.ndim == 3 and shown.shape[0] in (1, 3) and shown.shape[-1] not in (1, 3):  # CHW from ImageToTensor
        shown = shown.transpose(1, 2, 0)
    if shown.ndim == 2:
        shown = shown[..., None]
    if shown.shape[-1] == 1:
        shown = np.repeat(shown, 3, axis=-1)
    return tensor, np.clip(shown, 0, 255).astype(np.uint8)


_NOT_CALLED = object()


def _check_output(name: str, layer: nn.Module, output) -> None:
    """A target layer must run in the forward pass and answer one tensor (a map or tokens)."""
    import torch

    children = ", ".join(f"{name}.{n}" for n, _ in list(layer.named_children())[:6])
    also = f"; try one of its parts: {children}" if children else ""
    if output is _NOT_CALLED:
        raise ValueError(f"target layer {name!r} ({type(layer).__name__}) is not called as a module in the "
                         f"model's forward pass, so it has no activations{also}")
    if not isinstance(output, torch.Tensor) or output.dim() not in (3, 4):
        kind = type(output).__name__ if not isinstance(output, torch.Tensor) else f"a {output.dim()}-D tensor"
        raise ValueError(f"target layer {name!r} answers {kind}, not a (N, C, H, W) map or (N, L, C) tokens{also}")


def compute_cam(model: nn.Module, img_or_tensor, *, method: str = "GradCAM", target_layers: list[str] | None = None,
                target_category: list[int] | None = None, eigen_smooth: bool = False, aug_smooth: bool = False,
                vit_like: bool | None = None, extra_tokens: int | None = None) -> CamResult:
    """The class activation maps of one image.

    Args:
        model: A classifier from :func:`workers.apis.init_model` (or any ``ImageClassifier``).
        img_or_tensor: An image file or an HxWxC BGR uint8 array (through the test pipeline), or a ready
            ``(1, C, H, W)`` input.
        method: One of GradCAM, GradCAM++, XGradCAM, EigenCAM, EigenGradCAM, LayerCAM (any case).
        target_layers: Module names (default: the family's, :func:`default_target_layers`).
        target_category: One map per category (default: the predicted one).
        eigen_smooth: The first principal component of the weighted activations only.
        aug_smooth: Average over test-time augmentations (flips, scales).
        vit_like: Reshape token outputs; ``None``: whenever a layer's output has three dimensions.
        extra_tokens: Tokens before the patch tokens (default: the backbone's).
    """
    import torch

    cam_class = _method_class(method)
    device = next(model.parameters()).device
    if isinstance(img_or_tensor, torch.Tensor):
        tensor = img_or_tensor.to(device)
        shown = None
    else:
        tensor, shown = load_image(model, img_or_tensor, device)
    names = list(target_layers) if target_layers else default_target_layers(model)
    layers = [get_layer(model, name) for name in names]
    scorer = _scores_of(model).eval()
    outputs: dict[str, object] = {}
    hooks = [layer.register_forward_hook(lambda _m, _i, out, name=name: outputs.setdefault(name, out))
             for name, layer in zip(names, layers, strict=True)]
    try:
        with torch.no_grad():
            scores = scorer(tensor)
            probabilities = model.simple_test(tensor)  # what `trainyard infer` reports as pred_score
    finally:
        for hook in hooks:
            hook.remove()
    for name, layer in zip(names, layers, strict=True):
        _check_output(name, layer, outputs.get(name, _NOT_CALLED))
    num_classes = scores.shape[1]
    categories = list(target_category) if target_category else [int(scores[0].argmax())]
    for category in categories:
        if not 0 <= category < num_classes:
            raise ValueError(f"target category {category} is out of range: the model has {num_classes} classes "
                             f"(0 to {num_classes - 1})")
    extra = num_extra_tokens(model) if extra_tokens is None else extra_tokens
    # 4-D outputs pass the transform as they are: installing it costs CNNs nothing
    reshape = None if vit_like is False else reshape_tokens(extra, tuple(tensor.shape[-2:]))
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    batch = tensor.expand(len(categories), *tensor.shape[1:]).contiguous()  # one map a category, one pass
    with cam_class(model=scorer, target_layers=layers, reshape_transform=reshape) as cam:
        cams = cam(input_tensor=batch, targets=[ClassifierOutputTarget(c) for c in categories],
                   aug_smooth=aug_smooth, eigen_smooth=eigen_smooth)
    if shown is None:
        shown = np.zeros((*tensor.shape[-2:], 3), dtype=np.uint8)
    return CamResult(cams=np.asarray(cams, dtype=np.float32), categories=categories,
                     scores=[float(probabilities[0, c]) for c in categories], image=shown, target_layers=names,
                     method=cam_class.__name__)


def blend(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The map as a jet heat map over the BGR image, resized to the image (``pytorch_grad_cam``'s blend)."""
    import cv2
    from pytorch_grad_cam.utils.image import show_cam_on_image

    if cam.shape != image.shape[:2]:
        cam = cv2.resize(cam, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return show_cam_on_image(image.astype(np.float32) / 255, cam, use_rgb=False, image_weight=alpha)


def picture(result: CamResult) -> np.ndarray:
    """The image, then one blended map per category, side by side (BGR uint8)."""
    panels = [result.image] + [blend(result.image, cam) for cam in result.cams]
    return np.concatenate(panels, axis=1)


def preview_model(model: nn.Module) -> str:
    """Every module name of the classifier with its type (``--preview-model``)."""
    return "\n".join(f"{name}  ({type(module).__name__})" for name, module in model.named_modules() if name)


def add_parser(sub) -> argparse.ArgumentParser:
    """``trainyard vis-cam IMG SPEC CKPT ...`` (flags of MMCls 0.25's vis_cam.py)."""
    parser = sub.add_parser("vis-cam", help="class activation maps of a checkpoint on one image (MMCls vis_cam.py)")
    parser.add_argument("img", help="the image file")
    parser.add_argument("spec", help="the spec file")
    parser.add_argument("checkpoint", help="the checkpoint file")
    parser.add_argument("--target-layers", nargs="+", metavar="NAME",
                        help="module names, e.g. backbone.layer4.1.conv2 or 'backbone.layers[-1].ln1' "
                             "(default: the family's; see --preview-model)")
    parser.add_argument("--preview-model", action="store_true", help="print the model's module names and exit")
    parser.add_argument("--method", default="GradCAM",
                        help=f"{', '.join(SHOWN_METHODS)} (case-insensitive; default: GradCAM)")
    parser.add_argument("--target-category", type=int, nargs="+", metavar="N",
                        help="one map per category (default: the predicted one)")
    parser.add_argument("--eigen-smooth", "--eigen_smooth", action="store_true",
                        help="keep the first principal component only, to reduce noise")
    parser.add_argument("--aug-smooth", "--aug_smooth", action="store_true",
                        help="average over test-time augmentations")
    parser.add_argument("--save-path", help="write the picture (image, then one map per category) here")
    parser.add_argument("--vit-like", action="store_true",
                        help="reshape token outputs (N, L, C) to maps (automatic when a layer answers tokens)")
    parser.add_argument("--num-extra-tokens", type=int,
                        help="tokens before the patch tokens (default: the backbone's num_extra_tokens)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """The ``vis-cam`` subcommand; prints one line per category and where the picture went."""
    import json

    from workers.cli import _load_spec

    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    spec = _load_spec(args.spec, args.cfg_options)
    from workers.apis import init_model
    from workers.engine.dist import resolve_device

    model = init_model(spec, args.checkpoint, device=resolve_device(args.device))
    if args.preview_model:
        print(preview_model(model))
        return 0
    _method_class(args.method)  # a typo fails before the image is read
    result = compute_cam(model, args.img, method=args.method, target_layers=args.target_layers,
                         target_category=args.target_category, eigen_smooth=args.eigen_smooth,
                         aug_smooth=args.aug_smooth, vit_like=True if args.vit_like else None,
                         extra_tokens=args.num_extra_tokens)
    classes = getattr(model, "CLASSES", None)
    for category, score in zip(result.categories, result.scores, strict=True):
        print(json.dumps({"method": result.method, "target_layers": result.target_layers, "category": category,
                          "class": classes[category] if classes else str(category), "score": round(score, 4)}))
    for category, cam in zip(result.categories, result.cams, strict=True):
        if float(cam.max() - cam.min()) == 0:
            print(f"warning: the map of category {category} is flat: no gradient of its score reaches "
                  f"{', '.join(result.target_layers)} (a ViT's final norm, whose patch tokens the class token "
                  "ignores?) or the layer has a single position at this input size; try an earlier layer",
                  file=sys.stderr)
    if args.save_path:
        import cv2

        path = Path(args.save_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), picture(result)):
            raise OSError(f"could not write {path} (is the extension an image format, e.g. .png or .jpg?)")
        print(f"saved the CAM picture to {path}")
    else:
        print("no --save-path: nothing is shown (no display here); give --save-path FILE.png to write the picture",
              file=sys.stderr)
    return 0
