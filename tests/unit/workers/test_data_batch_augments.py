"""Batch augments (Mixup, CutMix, ResizeMix) and the Augments composer of a classifier's train_cfg."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workers.data import Augments
from workers.registry import BATCH_AUGMENTS

torch.set_num_threads(1)


def _batch(n: int = 6, size: int = 8) -> torch.Tensor:
    """Image ``i`` is filled with the value ``10 * i`` and has label ``i``."""
    return (10 * torch.arange(n, dtype=torch.float32)).view(n, 1, 1, 1).expand(n, 3, size, size).contiguous()


def test_it_mixes_images_and_labels_with_one_lambda():
    np.random.seed(0)
    torch.manual_seed(0)
    img = _batch()
    mixed, soft = BATCH_AUGMENTS.build({"type": "BatchMixup", "alpha": 0.2, "num_classes": 6})(img, torch.arange(6))
    assert mixed.shape == img.shape and soft.shape == (6, 6)
    assert torch.allclose(soft.sum(dim=1), torch.ones(6))
    assert (soft > 0).sum(dim=1).max() <= 2  # each image mixes with one other
    # pixel = lam * 10 i + (1 - lam) * 10 j, with the labels weighted lam on i and 1 - lam on j
    expected = soft @ (10 * torch.arange(6.0))
    assert torch.allclose(mixed[:, 0, 0, 0], expected, atol=1e-4)
    assert torch.allclose(mixed, mixed[:, :1, :1, :1].expand_as(mixed))


def test_it_cuts_a_box_and_weights_labels_by_its_area():
    np.random.seed(1)
    torch.manual_seed(1)
    img = _batch(4, 16)
    cutmix = BATCH_AUGMENTS.build({"type": "BatchCutMix", "alpha": 1.0, "num_classes": 4})
    mixed, soft = cutmix(img, torch.arange(4))
    assert torch.allclose(soft.sum(dim=1), torch.ones(4))
    changed = (mixed != img).any(dim=1).float().mean(dim=(1, 2))
    assert changed.max() > 0
    for i in range(4):
        assert soft[i, i].item() == pytest.approx(1 - changed[i].item())
        assert len(set(mixed[i, 0].unique().tolist()) - {10.0 * i}) <= 1  # the box comes from one image
    assert torch.equal(img, _batch(4, 16))  # the input batch is untouched
    minmax = BATCH_AUGMENTS.build({"type": "BatchCutMix", "alpha": 1.0, "num_classes": 3,
                                   "cutmix_minmax": (0.25, 0.5)})
    (y1, y2, x1, x2), lam = minmax.cutmix_bbox_and_lam((4, 3, 16, 16), 0.9)
    assert 4 <= y2 - y1 < 8 and 4 <= x2 - x1 < 8 and lam == pytest.approx(1 - (y2 - y1) * (x2 - x1) / 256)


def test_it_pastes_a_resized_whole_image_for_resizemix():
    np.random.seed(2)
    torch.manual_seed(2)
    img = _batch(4, 16)
    resizemix = BATCH_AUGMENTS.build({"type": "BatchResizeMix", "alpha": 1.0, "num_classes": 4,
                                      "lam_min": 0.5, "lam_max": 0.5})
    mixed, soft = resizemix(img, torch.arange(4))
    assert torch.allclose(soft.sum(dim=1), torch.ones(4))
    changed = ((mixed - img).abs() > 0.5).any(dim=1).float().mean(dim=(1, 2))
    assert changed.max() > 0.2  # a box of about half the image was pasted
    for i in range(4):  # the own label keeps the share of the image left visible
        assert soft[i, i].item() == pytest.approx(1 - changed[i].item())


def test_it_picks_one_augment_per_batch_with_identity_for_the_rest():
    augments = Augments([{"type": "BatchMixup", "alpha": 0.2, "num_classes": 3, "prob": 0.3},
                         {"type": "BatchCutMix", "alpha": 1.0, "num_classes": 3, "prob": 0.3}])
    assert [type(a).__name__ for a in augments.augments] == ["BatchMixup", "BatchCutMix", "Identity"]
    assert augments.augment_probs == pytest.approx([0.3, 0.3, 0.4])
    np.random.seed(0)
    img, labels = _batch(), torch.arange(6) % 3
    identical = 0
    for _ in range(30):
        out, soft = augments(img, labels)
        assert soft.shape == (6, 3) and torch.allclose(soft.sum(dim=1), torch.ones(6))
        identical += bool(torch.equal(out, img))
    assert 4 <= identical <= 26
    only_identity = Augments({"type": "BatchMixup", "alpha": 1.0, "num_classes": 3, "prob": 0.0})
    out, soft = only_identity(img, labels)
    assert torch.equal(out, img) and torch.equal(soft, torch.nn.functional.one_hot(labels, 3).float())
    with pytest.raises(ValueError, match="<= 1"):
        Augments([{"type": "BatchMixup", "alpha": 1.0, "num_classes": 3, "prob": 0.7},
                  {"type": "BatchCutMix", "alpha": 1.0, "num_classes": 3, "prob": 0.7}])
    with pytest.raises(KeyError, match="Did you mean: BatchMixup"):
        Augments([{"type": "BatchMixUp", "alpha": 1.0, "num_classes": 3}])
