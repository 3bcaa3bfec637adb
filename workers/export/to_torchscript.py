"""TorchScript export (MMCls's ``tools/deployment/pytorch2torchscript.py``, seed chapter 49): the model
traced with ``torch.jit.trace`` on one input of ``--shape``, saved with ``torch.jit.save``.

A trace records the operations of one run, so a model whose Python code branches on its input sizes is
frozen at the traced size; ``--verify`` runs the saved module on the traced input and on a batch of
another size. The checkpoint's class names are saved beside the graph (``classes.json`` in the archive's
extra files: ``torch.jit.load(path, _extra_files={'classes.json': ''})``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from workers.export.verify import compare_outputs

__all__ = ["export_torchscript"]


def _random_input(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def export_torchscript(model: nn.Module, out: str | Path, input_shape: tuple[int, int, int, int], *,
                       verify: bool = False, classes: list[str] | None = None) -> dict:
    """Trace ``model`` (an :class:`~workers.export.model.InferenceModel`) and save it.

    Args:
        model: The model in eval mode, on the CPU.
        out: The ``.pt`` file to write.
        input_shape: ``(N, C, H, W)`` of the traced input.
        verify: Load the saved module and compare it with PyTorch eager on the traced input and on a batch of
            another size (raises :class:`~workers.export.verify.ExportMismatch`).
        classes: Class names to save beside the graph.

    Returns:
        ``{'path', 'max_abs_diff'}`` (``max_abs_diff`` is ``None`` without ``verify``).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = _random_input(input_shape)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # --verify checks what they warn about
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.9+ marks torch.jit deprecated; still the seed's format
        traced = torch.jit.trace(model, (dummy,), check_trace=False)
        extra = {"classes.json": json.dumps(list(classes))} if classes is not None else {}
        torch.jit.save(traced, str(out), _extra_files=extra)
    result = {"path": out, "max_abs_diff": None}
    if verify:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            loaded = torch.jit.load(str(out), map_location="cpu")
        largest = 0.0
        for array in (dummy, _random_input((input_shape[0] + 1, *input_shape[1:]))):
            with torch.no_grad():
                reference = model(array).float().numpy()
                exported = loaded(array).float().numpy()
            largest = max(largest, compare_outputs(reference, exported, what="the TorchScript module"))
        result["max_abs_diff"] = largest
    return result
