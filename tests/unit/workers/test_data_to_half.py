"""ToHalf (MMCls 0.25's IPU pipelines): float16 images from arrays and tensors."""

from __future__ import annotations

import numpy as np
import torch

from workers.data.transforms import Compose


def test_it_casts_tensors_and_arrays_to_float16_and_leaves_other_keys():
    pipeline = Compose([{"type": "ImageToTensor", "keys": ["img"]}, {"type": "ToHalf", "keys": ["img", "mask"]}])
    results = pipeline({"img": np.full((2, 3, 3), 1.5, dtype=np.float32), "mask": np.ones(4), "gt_label": 3})

    assert results["img"].dtype == torch.float16 and results["img"].shape == (3, 2, 3)
    assert torch.all(results["img"] == 1.5)
    assert results["mask"].dtype == np.float16 and results["gt_label"] == 3
    assert repr(pipeline.transforms[1]) == "ToHalf(keys=['img', 'mask'])"
