"""``--verify``: the exported model and the PyTorch one, run on the same random input, must agree.

Both give class scores (softmax/sigmoid, see :mod:`workers.export.model`). They agree when every score
differs by at most ``ATOL + RTOL * |pytorch score|`` (numpy's ``allclose`` rule): ``ATOL = 1e-6`` keeps
the check meaningful for 1000 classes whose scores are ~1e-3 each, ``RTOL = 1e-3`` absorbs the float
reordering of fused kernels (ONNX Runtime's convolutions, the folded RepVGG branches): a logit off by
``d`` moves a score ``p`` by about ``p * d``, so kernel noise (``d`` ~ 1e-5) stays far inside it. MMCls's
``pytorch2onnx.py`` asserts ``np.allclose`` with its defaults (1e-8 + 1e-5 relative), which fails on
harmless kernel differences for deep models.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ATOL", "RTOL", "ExportMismatch", "compare_outputs"]

ATOL = 1e-6
RTOL = 1e-3


class ExportMismatch(AssertionError):
    """The exported model's outputs differ from PyTorch's beyond the tolerance.

    Attributes:
        max_abs_diff: The largest absolute difference of a score.
    """

    def __init__(self, message: str, max_abs_diff: float):
        super().__init__(message)
        self.max_abs_diff = max_abs_diff


def compare_outputs(reference: np.ndarray, exported: np.ndarray, *, what: str = "exported model",
                    atol: float = ATOL, rtol: float = RTOL) -> float:
    """Check two score arrays agree.

    Args:
        reference: PyTorch's scores.
        exported: The exported model's scores on the same input.
        what: How the message names the exported model, e.g. ``'ONNX Runtime'``.

    Returns:
        The largest absolute difference.

    Raises:
        ExportMismatch: Shapes differ, a score is not finite, or a difference is beyond the tolerance.
    """
    reference = np.asarray(reference, dtype=np.float64)
    exported = np.asarray(exported, dtype=np.float64)
    if reference.shape != exported.shape:
        raise ExportMismatch(f"{what} gives outputs of shape {exported.shape}, PyTorch {reference.shape}",
                             float("inf"))
    if not np.isfinite(exported).all():
        raise ExportMismatch(f"{what} gives non-finite scores (NaN or inf)", float("inf"))
    diff = np.abs(reference - exported)
    largest = float(diff.max()) if diff.size else 0.0
    if not np.all(diff <= atol + rtol * np.abs(reference)):
        worst = np.unravel_index(int(np.argmax(diff - rtol * np.abs(reference))), diff.shape)
        raise ExportMismatch(
            f"{what} and PyTorch disagree: largest absolute difference {largest:.3g} "
            f"(tolerance {atol:g} + {rtol:g} x |score|; e.g. at {tuple(int(i) for i in worst)}: "
            f"PyTorch {reference[worst]:.6g}, {what} {exported[worst]:.6g})", largest)
    return largest
