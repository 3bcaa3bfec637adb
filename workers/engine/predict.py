"""Prediction: softmax scores of a whole dataset in dataset order, gathered from every rank."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from workers.data.transforms.normalize import prepare_images
from workers.engine.checkpoint import unwrap_model
from workers.engine.dist import gather_to_main

__all__ = ["predict"]


@torch.no_grad()
def predict(model: nn.Module, data_loader: DataLoader, device: torch.device) -> np.ndarray | None:
    """Softmax scores ``(len(dataset), C)`` in dataset order, on rank 0 (``None`` on other ranks).

    Distributed, each rank scores its share (a ``DistributedSampler`` without shuffle, padded to equal
    length); the shares are gathered, interleaved back into dataset order and the padding dropped.
    """
    module = unwrap_model(model)
    was_training = module.training
    module.eval()
    parts = []
    # a DeepSpeed bf16/fp16 engine holds the model in that precision; float32 elsewhere, so a no-op there
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    for batch in data_loader:
        scores = module.simple_test(prepare_images(batch, device, dtype=dtype))
        parts.append(scores.float().cpu().numpy())
    module.train(was_training)
    local = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    gathered = gather_to_main(local)
    if gathered is None:
        return None
    size = len(data_loader.dataset)
    if len(gathered) == 1:
        return gathered[0][:size]
    width = max(part.shape[1] for part in gathered if part.size) if any(p.size for p in gathered) else 0
    longest = max(len(part) for part in gathered)
    ordered = []
    for i in range(longest):  # rank r holds samples r, r + W, r + 2W, ...
        for part in gathered:
            if i < len(part):
                ordered.append(part[i])
    return np.stack(ordered)[:size] if ordered else np.zeros((0, width), dtype=np.float32)
