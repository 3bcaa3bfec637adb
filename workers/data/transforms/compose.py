"""Compose: run transforms one after the other on a result dict."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from workers.data.transforms.formatting import FORMATTING_STEPS
from workers.data.transforms.normalize import Normalize
from workers.registry import TRANSFORMS

__all__ = ["Compose"]


@TRANSFORMS.register()
class Compose:
    """A transform pipeline; a step returning ``None`` drops the sample (the pipeline returns ``None``).

    Args:
        transforms: Transform configs (built from ``TRANSFORMS``) or callables.
        fuse_normalize: Defer the last ``Normalize`` to the batch when only formatting steps
            (``ImageToTensor``, ``Transpose``, ``ToTensor``, ``Collect``) follow it (see
            :meth:`fuse_normalize`). Off by default: a pipeline on its own gives normalised images.
    """

    def __init__(self, transforms: Sequence[dict | Callable], *, fuse_normalize: bool = False):
        self.transforms: list[Callable] = []
        for transform in transforms:
            if isinstance(transform, dict):
                self.transforms.append(TRANSFORMS.build(transform))
            elif callable(transform):
                self.transforms.append(transform)
            else:
                raise TypeError(f"a transform must be a config dict or callable, got {type(transform).__name__}")
        self.fuse_normalize(fuse_normalize)

    def deferrable_normalize(self) -> Normalize | None:
        """The ``Normalize`` that can be deferred to the batch: the last one, when every step after it is a
        formatting step; else ``None``."""
        for i in range(len(self.transforms) - 1, -1, -1):
            step = self.transforms[i]
            if type(step) is Normalize:
                return step
            if type(step) not in FORMATTING_STEPS:
                return None
        return None

    def fuse_normalize(self, enabled: bool = True) -> bool:
        """Defer (``enabled``) or not the normalisation to the batch: deferred, the pipeline's images stay
        as loaded (uint8, BGR) and carry a ``DeferredNorm`` that the collated batch keeps and
        :func:`~workers.data.transforms.normalize.prepare_images` applies. Returns whether it is deferred."""
        for step in self.transforms:
            if isinstance(step, Normalize):
                step.deferred = False
        step = self.deferrable_normalize() if enabled else None
        if step is not None:
            step.deferred = True
        return step is not None

    @property
    def normalize_deferred(self) -> bool:
        """Whether this pipeline leaves its normalisation to the batch."""
        return any(isinstance(step, Normalize) and step.deferred for step in self.transforms)

    def __call__(self, results: dict) -> dict | None:
        for transform in self.transforms:
            results = transform(results)
            if results is None:
                return None
        return results

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"{self.__class__.__name__}({inner}\n)"
