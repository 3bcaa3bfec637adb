"""The model zoo: every ``jobspecs/library/<family>/metafile.yml`` as a list of :class:`ZooEntry`.

Each family folder of the spec library holds a metafile in MMClassification's shape (issue #7): one
``Collection`` (the seed's family name and its paper) and one ``Models`` entry per variant of the seed's
table, naming its spec, the published parameter count and FLOPs (with the resolution they were measured
at), and the ImageNet (or CIFAR, ...) accuracy. The zoo test builds every entry and compares, the
dashboard lists them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ZooEntry", "metafiles", "zoo_entries", "zoo_entry"]


@dataclass(frozen=True)
class ZooEntry:
    """One variant of the model zoo.

    Args:
        family: The collection's name, e.g. ``'ResNet'``.
        folder: The library folder, e.g. ``'resnet'``.
        spec: The library spec name, e.g. ``'resnet/resnet50_8xb32_in1k.py'``.
        name: The model's name in the metafile (the spec file stem).
        variant: The row name of the seed's table, e.g. ``'ResNet-50'``.
        params: Published parameter count.
        flops: Published FLOPs (mmcv's multiply-accumulates).
        resolution: ``(H, W)`` the FLOPs were measured at.
        top1: Published top-1 accuracy, or ``None``.
        top5: Published top-5 accuracy, or ``None``.
        dataset: The results' dataset, e.g. ``'ImageNet-1k'``.
        paper_title: Title of the family's paper.
        paper_url: Link to it.
        deploy_params: Parameters after ``switch_to_deploy()`` (RepVGG, RepMLP), else ``None``.
        deploy_flops: FLOPs after ``switch_to_deploy()``, else ``None``.
        unmatched: Why the built model does not reproduce the published figures, else ``None``.
    """

    family: str
    folder: str
    spec: str
    name: str
    variant: str
    params: int | None
    flops: int | None
    resolution: tuple[int, int]
    top1: float | None
    top5: float | None
    dataset: str | None
    paper_title: str | None
    paper_url: str | None
    deploy_params: int | None = None
    deploy_flops: int | None = None
    unmatched: str | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(3, H, W)``: the input of the FLOPs figure."""
        return (3, *self.resolution)


def metafiles() -> list[Path]:
    """The library's metafiles, sorted by folder."""
    from .library import library_dir

    return sorted(library_dir().glob("*/metafile.yml"))


def _int(value) -> int | None:
    return None if value is None else int(round(float(value)))


def _float(value) -> float | None:
    return None if value is None else float(value)


def _resolution(value) -> tuple[int, int]:
    if value is None:
        return (224, 224)
    if isinstance(value, (list, tuple)):
        height, width = value
        return (int(height), int(width))
    return (int(value), int(value))


def _read(path: Path) -> list[ZooEntry]:
    import yaml  # the dev extra's pyyaml; only the zoo needs it

    data = yaml.safe_load(path.read_text()) or {}
    collections = data.get("Collections") or [{}]
    collection = collections[0]
    paper = collection.get("Paper") or {}
    entries = []
    for model in data.get("Models") or []:
        metadata = model.get("Metadata") or {}
        results = model.get("Results") or {}
        if isinstance(results, list):  # mmcls metafiles hold a list of {Task, Dataset, Metrics}
            results = results[0] if results else {}
        metrics = results.get("Metrics", results)
        deploy = metadata.get("Deploy") or {}
        entries.append(ZooEntry(
            family=collection.get("Name", path.parent.name),
            folder=path.parent.name,
            spec=f"{path.parent.name}/{model['Config']}",
            name=model["Name"],
            variant=model.get("Variant", model["Name"]),
            params=_int(metadata.get("Parameters")),
            flops=_int(metadata.get("FLOPs")),
            resolution=_resolution(metadata.get("Resolution")),
            top1=_float(metrics.get("Top-1", metrics.get("Top 1 Accuracy"))),
            top5=_float(metrics.get("Top-5", metrics.get("Top 5 Accuracy"))),
            dataset=results.get("Dataset"),
            paper_title=paper.get("Title"),
            paper_url=paper.get("URL"),
            deploy_params=_int(deploy.get("Parameters")),
            deploy_flops=_int(deploy.get("FLOPs")),
            unmatched=model.get("Unmatched"),
        ))
    return entries


@functools.lru_cache(maxsize=1)
def _all_entries() -> tuple[ZooEntry, ...]:
    return tuple(entry for path in metafiles() for entry in _read(path))


def zoo_entries() -> list[ZooEntry]:
    """Every variant of every family's metafile, in folder order then metafile order.

    The metafiles are read once per process (``_all_entries.cache_clear()`` rereads them).
    """
    return list(_all_entries())


def zoo_entry(spec_name: str) -> ZooEntry:
    """The zoo entry of a library spec.

    Args:
        spec_name: ``'resnet/resnet50_8xb32_in1k.py'`` (the ``.py`` may be left out) or the model's name.

    Raises:
        KeyError: No metafile lists it.
    """
    wanted = spec_name if spec_name.endswith(".py") or "/" not in spec_name else f"{spec_name}.py"
    for entry in _all_entries():
        if wanted in (entry.spec, entry.name):
            return entry
    raise KeyError(f"no model-zoo entry for {spec_name!r}")
