"""ImageNet and ImageNet-21k: CustomDataset layouts with ImageNet's defaults (seed section 59.2).

ImageNet reads either the ``train/<synset>/*.JPEG`` folders or an annotation file of
``<path> <label>`` lines such as ``meta/val.txt``; labels index the 1000 classes in sorted-synset order.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from workers.data.datasets.custom import CustomDataset
from workers.registry import DATASETS

__all__ = ["ImageNet", "ImageNet21k"]

IMAGENET_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif")


def _imagenet_classes() -> tuple[str, ...] | None:
    # torchvision keeps the 1000 names in the same (sorted synset) order as MMCls' ImageNet.CLASSES;
    # MMCls spells some of them longer ('tench, Tinca tinca' where torchvision says 'tench').
    # Its data file is loaded on its own: importing the torchvision package costs every process that reads a
    # dataset about 2 CPU seconds (torchvision.ops imports torch._dynamo), for a list of names.
    import importlib.util
    import sys

    if "torchvision.models._meta" in sys.modules:
        return tuple(sys.modules["torchvision.models._meta"]._IMAGENET_CATEGORIES)
    package = importlib.util.find_spec("torchvision")
    if package is None or not package.submodule_search_locations:  # pragma: no cover - a dependency
        return None
    path = Path(package.submodule_search_locations[0]) / "models" / "_meta.py"
    spec = importlib.util.spec_from_file_location("trainyard_torchvision_meta", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # a file of lists and dicts, importing nothing
    return tuple(module._IMAGENET_CATEGORIES)


@DATASETS.register()
class ImageNet(CustomDataset):
    """ImageNet-1k (ILSVRC 2012).

    Args:
        data_prefix: Root of the images, e.g. ``data/imagenet/train``.
        pipeline: Transform configs.
        classes: Class names; default the 1000 ImageNet names (the folder layout then needs 1000 folders).
        ann_file: ``<path> <label>`` lines (e.g. ``data/imagenet/meta/val.txt``), or ``None`` for folders.
        test_mode: Built for testing.
        file_client_args: Only the local disk is supported.
    """

    CLASSES = _imagenet_classes()

    def __init__(
        self,
        data_prefix: str,
        pipeline: Sequence = (),
        classes: str | Sequence[str] | None = None,
        ann_file: str | None = None,
        test_mode: bool = False,
        file_client_args: dict | None = None,
    ):
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes, ann_file=ann_file,
                         extensions=IMAGENET_EXTENSIONS, test_mode=test_mode, file_client_args=file_client_args)


@DATASETS.register()
class ImageNet21k(CustomDataset):
    """ImageNet-21k: the same layouts, no built-in class names (pass ``classes`` for inference).

    Args:
        data_prefix: Root of the images.
        pipeline: Transform configs.
        classes: Class names (list or file), or ``None`` for the folder names.
        ann_file: ``<path> <label>`` lines; recommended, scanning 21k folders is slow.
        multi_label: Not supported, as in MMCls 0.25 (raises ``NotImplementedError``).
        recursion_subdir: Deprecated in MMCls 0.25: images below the class folders are always found.
        test_mode: Built for testing.
        file_client_args: Only the local disk is supported.
    """

    CLASSES = None

    def __init__(
        self,
        data_prefix: str,
        pipeline: Sequence = (),
        classes: str | Sequence[str] | None = None,
        ann_file: str | None = None,
        multi_label: bool = False,
        recursion_subdir: bool = False,
        test_mode: bool = False,
        file_client_args: dict | None = None,
    ):
        if multi_label:
            raise NotImplementedError("The `multi_label` option is not supported by now.")
        if recursion_subdir:
            warnings.warn("The `recursion_subdir` option is deprecated. Now the dataset will recursively "
                          "get all images.", UserWarning, stacklevel=2)
        self.multi_label = multi_label
        self.recursion_subdir = recursion_subdir
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes, ann_file=ann_file,
                         extensions=IMAGENET_EXTENSIONS, test_mode=test_mode, file_client_args=file_client_args)
        if self.ann_file is None:
            warnings.warn("The ImageNet21k dataset is large, and scanning directory may consume long time. "
                          "Consider specifying the `ann_file` to accelerate the initialization.",
                          UserWarning, stacklevel=2)
