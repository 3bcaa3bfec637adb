"""Compose: run transforms one after the other on a result dict."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from workers.registry import TRANSFORMS

__all__ = ["Compose"]


@TRANSFORMS.register()
class Compose:
    """A transform pipeline; a step returning ``None`` drops the sample (the pipeline returns ``None``).

    Args:
        transforms: Transform configs (built from ``TRANSFORMS``) or callables.
    """

    def __init__(self, transforms: Sequence[dict | Callable]):
        self.transforms: list[Callable] = []
        for transform in transforms:
            if isinstance(transform, dict):
                self.transforms.append(TRANSFORMS.build(transform))
            elif callable(transform):
                self.transforms.append(transform)
            else:
                raise TypeError(f"a transform must be a config dict or callable, got {type(transform).__name__}")

    def __call__(self, results: dict) -> dict | None:
        for transform in self.transforms:
            results = transform(results)
            if results is None:
                return None
        return results

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"{self.__class__.__name__}({inner}\n)"
