"""Batch augments: Mixup, CutMix and ResizeMix on a batch of images and labels (seed chapter 61).

Each is registered in ``BATCH_AUGMENTS`` under MMCls 0.25's name and maps ``(img, gt_label)`` — an
``NxCxHxW`` tensor and ``N`` class indices (or ``NxK`` soft labels) — to the mixed images and ``NxK``
soft labels that sum to 1. :class:`Augments` (``mmcls.models.utils.augment.Augments``) picks one of
them per batch by their ``prob``, with an ``Identity`` for the rest of the probability.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from workers.registry import BATCH_AUGMENTS

__all__ = ["Augments", "BatchCutMix", "BatchMixup", "BatchResizeMix", "Identity", "one_hot_encoding"]


def one_hot_encoding(gt_label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``N`` class indices -> ``NxK`` float one-hot; ``NxK`` labels are returned as float."""
    if gt_label.dim() == 2:
        if gt_label.size(1) != num_classes:
            raise ValueError(f"soft labels have {gt_label.size(1)} classes, expected {num_classes}")
        return gt_label.float()
    if gt_label.numel() and int(gt_label.max()) >= num_classes:
        raise ValueError(f"label {int(gt_label.max())} is out of range for num_classes={num_classes}")
    return F.one_hot(gt_label.long(), num_classes).float()


class _BatchAugment:
    def __init__(self, alpha: float, num_classes: int, prob: float = 1.0):
        if not isinstance(num_classes, int) or num_classes <= 0:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = alpha
        self.num_classes = num_classes
        self.prob = prob

    def mix(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __call__(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mix(img, gt_label)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{self.__class__.__name__}({args})"


@BATCH_AUGMENTS.register()
class Identity:
    """No mixing: only turn the labels into one-hot.

    Args:
        num_classes: Number of classes.
        prob: Share of the batches it takes in :class:`Augments`.
    """

    def __init__(self, num_classes: int, prob: float = 1.0):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.num_classes = num_classes
        self.prob = prob

    def __call__(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return img, one_hot_encoding(gt_label, self.num_classes)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_classes={self.num_classes}, prob={self.prob})"


@BATCH_AUGMENTS.register()
class BatchMixup(_BatchAugment):
    """Mixup (Zhang et al., arXiv 1710.09412): ``lam * x + (1 - lam) * x[perm]``, ``lam ~ Beta(alpha, alpha)``.

    Args:
        alpha: Beta distribution parameter.
        num_classes: Number of classes.
        prob: Share of the batches it takes in :class:`Augments`.
    """

    def mix(self, img, gt_label):
        one_hot = one_hot_encoding(gt_label, self.num_classes)
        lam = float(np.random.beta(self.alpha, self.alpha))
        index = torch.randperm(img.size(0), device=img.device)
        mixed_img = lam * img + (1 - lam) * img[index]
        return mixed_img, lam * one_hot + (1 - lam) * one_hot[index]


@BATCH_AUGMENTS.register()
class BatchCutMix(_BatchAugment):
    """CutMix (Yun et al., arXiv 1905.04899): paste a box of a shuffled image; labels mix by area.

    Args:
        alpha: Beta distribution parameter of the kept fraction ``lam``.
        num_classes: Number of classes.
        prob: Share of the batches it takes in :class:`Augments`.
        cutmix_minmax: ``(min, max)`` fractions of each side for the box (then ``alpha`` is unused).
        correct_lam: Recompute ``lam`` from the box clipped at the border.
    """

    def __init__(self, alpha: float, num_classes: int, prob: float = 1.0,
                 cutmix_minmax: Sequence[float] | None = None, correct_lam: bool = True):
        super().__init__(alpha, num_classes, prob)
        if cutmix_minmax is not None and (len(cutmix_minmax) != 2 or cutmix_minmax[0] > cutmix_minmax[1]):
            raise ValueError(f"cutmix_minmax must be (min, max), got {cutmix_minmax}")
        self.cutmix_minmax = None if cutmix_minmax is None else tuple(cutmix_minmax)
        self.correct_lam = correct_lam

    def rand_bbox(self, img_shape: Sequence[int], lam: float, margin: float = 0.0,
                  count: int | None = None) -> tuple[int, int, int, int]:
        """A box of area ``1 - lam`` centred uniformly (it may be clipped by the border): ``(y1, y2, x1, x2)``."""
        ratio = np.sqrt(1 - lam)
        img_h, img_w = img_shape[-2:]
        cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
        margin_y, margin_x = int(margin * cut_h), int(margin * cut_w)
        cy = np.random.randint(0 + margin_y, img_h - margin_y, size=count)
        cx = np.random.randint(0 + margin_x, img_w - margin_x, size=count)
        y1, y2 = np.clip(cy - cut_h // 2, 0, img_h), np.clip(cy + cut_h // 2, 0, img_h)
        x1, x2 = np.clip(cx - cut_w // 2, 0, img_w), np.clip(cx + cut_w // 2, 0, img_w)
        return int(y1), int(y2), int(x1), int(x2)

    def rand_bbox_minmax(self, img_shape: Sequence[int], count: int | None = None) -> tuple[int, int, int, int]:
        """A box whose sides are uniform fractions in ``cutmix_minmax`` of the image's: ``(y1, y2, x1, x2)``."""
        img_h, img_w = img_shape[-2:]
        low, high = self.cutmix_minmax
        cut_h = np.random.randint(int(img_h * low), int(img_h * high), size=count)
        cut_w = np.random.randint(int(img_w * low), int(img_w * high), size=count)
        y1 = np.random.randint(0, img_h - cut_h, size=count)
        x1 = np.random.randint(0, img_w - cut_w, size=count)
        return int(y1), int(y1 + cut_h), int(x1), int(x1 + cut_w)

    def cutmix_bbox_and_lam(self, img_shape: Sequence[int], lam: float,
                            count: int | None = None) -> tuple[tuple[int, int, int, int], float]:
        """The box and the (corrected) share ``lam`` of the original image."""
        if self.cutmix_minmax is not None:
            box = self.rand_bbox_minmax(img_shape, count)
        else:
            box = self.rand_bbox(img_shape, lam, count=count)
        if self.correct_lam or self.cutmix_minmax is not None:
            y1, y2, x1, x2 = box
            lam = 1.0 - (y2 - y1) * (x2 - x1) / float(img_shape[-2] * img_shape[-1])
        return box, lam

    def mix(self, img, gt_label):
        one_hot = one_hot_encoding(gt_label, self.num_classes)
        lam = float(np.random.beta(self.alpha, self.alpha))
        index = torch.randperm(img.size(0), device=img.device)
        (y1, y2, x1, x2), lam = self.cutmix_bbox_and_lam(img.shape, lam)
        img = img.clone()
        img[:, :, y1:y2, x1:x2] = img[index, :, y1:y2, x1:x2]
        return img, lam * one_hot + (1 - lam) * one_hot[index]


@BATCH_AUGMENTS.register()
class BatchResizeMix(BatchCutMix):
    """ResizeMix (Qin et al., arXiv 2012.11101): paste a whole shuffled image, resized into a box.

    ``lam ~ Beta(alpha, alpha)`` is scaled into ``[lam_min, lam_max]``; the label weights follow the
    (corrected) box area as in CutMix.

    Args:
        alpha: Beta distribution parameter.
        num_classes: Number of classes.
        lam_min: Lower bound of ``lam``.
        lam_max: Upper bound of ``lam``.
        interpolation: ``torch.nn.functional.interpolate`` mode.
        prob: Share of the batches it takes in :class:`Augments`.
        cutmix_minmax: As in CutMix.
        correct_lam: As in CutMix.
    """

    def __init__(self, alpha: float, num_classes: int, lam_min: float = 0.1, lam_max: float = 0.8,
                 interpolation: str = "bilinear", prob: float = 1.0, cutmix_minmax: Sequence[float] | None = None,
                 correct_lam: bool = True):
        super().__init__(alpha, num_classes, prob, cutmix_minmax, correct_lam)
        if not 0 <= lam_min <= lam_max <= 1:
            raise ValueError(f"need 0 <= lam_min <= lam_max <= 1, got {lam_min} and {lam_max}")
        self.lam_min = lam_min
        self.lam_max = lam_max
        self.interpolation = interpolation

    def mix(self, img, gt_label):
        one_hot = one_hot_encoding(gt_label, self.num_classes)
        lam = float(np.random.beta(self.alpha, self.alpha)) * (self.lam_max - self.lam_min) + self.lam_min
        index = torch.randperm(img.size(0), device=img.device)
        (y1, y2, x1, x2), lam = self.cutmix_bbox_and_lam(img.shape, lam)
        img = img.clone()
        if y2 > y1 and x2 > x1:
            align = False if self.interpolation in ("linear", "bilinear", "bicubic", "trilinear") else None
            img[:, :, y1:y2, x1:x2] = F.interpolate(img[index], size=(y2 - y1, x2 - x1), mode=self.interpolation,
                                                    align_corners=align)
        return img, lam * one_hot + (1 - lam) * one_hot[index]


class Augments:
    """Pick one batch augment per batch, each with its ``prob`` (``mmcls.models.utils.augment.Augments``).

    When the probabilities sum to less than 1 an ``Identity`` takes the rest; with an explicit
    ``Identity`` they must sum to 1.

    Args:
        augments_cfg: One config or a list, e.g. ``[dict(type='BatchMixup', alpha=0.2, num_classes=10,
            prob=0.5), ...]``.
    """

    def __init__(self, augments_cfg: dict | Sequence[dict]):
        cfgs = [augments_cfg] if isinstance(augments_cfg, dict) else list(augments_cfg)
        if not cfgs:
            raise ValueError("The length of augments_cfg should be positive.")
        self.augments = [BATCH_AUGMENTS.build(cfg) for cfg in cfgs]
        self.augment_probs = [aug.prob for aug in self.augments]
        total = sum(self.augment_probs)
        has_identity = any(cfg["type"] == "Identity" for cfg in cfgs)
        if has_identity and not np.isclose(total, 1.0):
            raise ValueError(f"with an Identity the probs must sum to 1, got {total}")
        if total > 1.0 + 1e-6:
            raise ValueError(f"The sum of augmentation probabilities should be <= 1, got {total}")
        num_classes = {aug.num_classes for aug in self.augments}
        if len(num_classes) != 1:
            raise ValueError(f"the batch augments disagree on num_classes: {sorted(num_classes)}")
        self.num_classes = num_classes.pop()
        if not has_identity and total < 1.0 - 1e-6:
            self.augments.append(Identity(num_classes=self.num_classes, prob=1.0 - total))
            self.augment_probs.append(1.0 - total)

    def __call__(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed images and ``NxK`` soft labels."""
        probs = np.asarray(self.augment_probs, dtype=np.float64)
        choice = int(np.random.choice(len(self.augments), p=probs / probs.sum()))
        return self.augments[choice](img, gt_label)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(augments={self.augments})"
