"""The model an export writes: a spec's classifier with a checkpoint's weights, in its inference form.

The exported graph is ``simple_test``: an ``(N, 3, H, W)`` float image batch (already normalised by the
spec's test pipeline) in, class scores ``(N, num_classes)`` out, softmax for single-label heads and sigmoid
for multi-label ones, exactly what ``trainyard test`` and ``trainyard infer`` score with. MMCls's
``pytorch2onnx.py`` exports the same (its ``forward_dummy`` plus the head's softmax when ``test_cfg`` asks).

RepVGG and RepMLP are exported in their deploy form (seed 1.x "Reparameterize"): the training-time
branches are folded by the same ``switch_to_deploy()`` that ``trainyard reparam`` calls, and a checkpoint
already re-parameterised by ``trainyard reparam`` (``meta.deploy``) is built with ``deploy=True``.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch
import torch.nn as nn

__all__ = ["InferenceModel", "input_channels", "load_export_model", "reparameterize"]

logger = logging.getLogger(__name__)


class InferenceModel(nn.Module):
    """``forward(img)`` = the classifier's ``simple_test(img)``: the graph export traces.

    Args:
        classifier: An ``ImageClassifier`` (or anything with ``simple_test``) in eval mode.
    """

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.classifier.simple_test(img)


def reparameterize(model: nn.Module) -> bool:
    """Fold RepVGG/RepMLP training-time branches (``switch_to_deploy``) if the model has any.

    Returns:
        Whether the model was re-parameterised now (``False``: nothing to fold, or already deploy).
    """
    parts = [m for m in model.modules() if m is not model and callable(getattr(m, "switch_to_deploy", None))]
    if not parts or all(getattr(m, "deploy", False) for m in parts):
        return False
    model.switch_to_deploy()
    return True


def _is_deploy_checkpoint(state: dict, spec: dict) -> bool:
    meta = state.get("meta") or {}
    backbone = (meta.get("spec") or {}).get("model", {}).get("backbone", {})
    return bool(meta.get("deploy")) or bool(backbone.get("deploy")) or bool(spec["model"]["backbone"].get("deploy"))


def load_export_model(spec: dict, checkpoint: str | Path | None, *, device: str | torch.device = "cpu"
                      ) -> tuple[nn.Module, list[str] | None]:
    """Build the spec's classifier, load ``checkpoint`` and put it in its inference form.

    The checkpoint is read with ``weights_only`` and MMCls names are mapped, as ``trainyard test`` and
    ``trainyard infer`` do; unlike them, a checkpoint that leaves weights of the model unset is refused:
    an export of half-random weights would verify fine and answer nonsense.

    Args:
        spec: The resolved spec (its ``model``).
        checkpoint: The checkpoint file, or ``None`` for the initial (random) weights.
        device: Where the model goes.

    Returns:
        ``(model, classes)``: an :class:`InferenceModel` in eval mode and the checkpoint's class names
        (``None`` when it has none).

    Raises:
        ValueError: The checkpoint does not fit the spec's model.
    """
    from workers.engine.checkpoint import load_checkpoint
    from workers.models import build_model, load_weights

    if "model" not in spec:
        raise ValueError("the spec has no 'model'")
    model_cfg = copy.deepcopy(spec["model"])
    classes = None
    state = None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        if _is_deploy_checkpoint(state, spec) and "deploy" in _backbone_arguments(model_cfg):
            model_cfg["backbone"]["deploy"] = True
        meta_classes = (state.get("meta") or {}).get("CLASSES")
        classes = list(meta_classes) if meta_classes is not None else None
    classifier = build_model(model_cfg)
    if state is not None:
        quiet = logging.getLogger(load_weights.__module__)  # its key-by-key lists: the message below says it shorter
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            missing, unexpected = load_weights(classifier, state, strict=False)
        finally:
            quiet.setLevel(level)
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise ValueError(f"the checkpoint does not fit the spec's model: {len(missing)} weights of the model "
                             f"are not in it ({shown}); is it another model's checkpoint?")
        if unexpected:
            logger.warning("%d keys of the checkpoint are not used by the model", len(unexpected))
    classifier.eval()
    if reparameterize(classifier):
        logger.info("re-parameterised %s into its deploy form", type(classifier.backbone).__name__)
    model = InferenceModel(classifier).to(device).eval()
    return model, classes


def _backbone_arguments(model_cfg: dict) -> set[str]:
    """The keyword arguments the spec's backbone class takes (to know whether it has ``deploy``)."""
    import inspect

    from workers import registry

    registry.ensure_registered()
    try:
        cls = registry.MODELS.get(model_cfg["backbone"]["type"])
    except KeyError:
        return set()
    return set(inspect.signature(cls).parameters)


def input_channels(model: nn.Module) -> int:
    """The channels the model's input has: those of its first convolution (3 when it has none)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return 3
