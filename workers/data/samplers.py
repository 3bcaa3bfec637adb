"""Training samplers a spec can name in ``sampler = dict(type=...)`` (MMCls 0.25's ``SAMPLERS``):
``RepeatAugSampler``, the repeated augmentation of Hoffer et al., "Augment your batch" (2020), as DeiT
and timm use it.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Sampler

__all__ = ["SAMPLER_TYPES", "RepeatAugSampler", "build_sampler"]


class RepeatAugSampler(Sampler[int]):
    """Each epoch, every sample is taken ``num_repeats`` times in a row of a shuffled order; the repeats go
    to different ranks (rank ``r`` takes positions ``r, r + W, ...``), so each rank sees a different
    augmentation of it. Each rank then keeps only its first ``num_selected_samples`` indices, by
    default ``len(dataset) // selected_round * selected_round / world_size``: an epoch stays about
    as long as without repeats (MMCls 0.25's sampler, after DeiT's ``RASampler``).

    Deliberate difference: without a process group MMCls shuffles with the global RNG; here every
    case shuffles with a generator seeded by ``seed + epoch``, so a resumed run sees the same order.

    Args:
        dataset: The dataset.
        num_replicas: Processes (world size).
        rank: This process's rank.
        shuffle: Shuffle before repeating (else dataset order).
        num_repeats: Copies of each sample per epoch.
        selected_round: Round the dataset length down to a multiple of this before dividing (0: no
            rounding, ``ceil(len / selected_ratio)`` samples).
        selected_ratio: Divide by this instead of the world size (0: the world size).
        seed: Shuffle seed, equal on every rank.
    """

    def __init__(self, dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, num_repeats: int = 3,
                 selected_round: int = 256, selected_ratio: float = 0, seed: int = 0):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.num_repeats = num_repeats
        self.seed = seed
        self.epoch = 0
        self.num_samples = math.ceil(len(dataset) * num_repeats / num_replicas)
        self.total_size = self.num_samples * num_replicas
        ratio = selected_ratio or num_replicas
        if selected_round:
            self.num_selected_samples = int(math.floor(len(dataset) // selected_round * selected_round / ratio))
        else:
            self.num_selected_samples = int(math.ceil(len(dataset) / ratio))

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            order = torch.randperm(len(self.dataset), generator=generator).tolist()
        else:
            order = list(range(len(self.dataset)))
        indices = [index for index in order for _ in range(self.num_repeats)]
        indices += indices[:self.total_size - len(indices)]  # pad to divide evenly among the ranks
        return iter(indices[self.rank:self.total_size:self.num_replicas][:self.num_selected_samples])

    def __len__(self) -> int:
        return self.num_selected_samples

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (the engine calls this before each epoch)."""
        self.epoch = epoch


SAMPLER_TYPES = {"RepeatAugSampler": RepeatAugSampler}


def build_sampler(cfg: dict, dataset, *, num_replicas: int, rank: int, shuffle: bool, seed: int) -> Sampler:
    """The sampler of ``cfg`` (``dict(type='RepeatAugSampler', ...)``) over ``dataset``; as MMCls, the
    loader's ``shuffle`` overrides the config's."""
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in SAMPLER_TYPES:
        raise KeyError(f"sampler type {kind!r} is not supported; use one of {sorted(SAMPLER_TYPES)}")
    cfg["shuffle"] = shuffle
    return SAMPLER_TYPES[kind](dataset, num_replicas=num_replicas, rank=rank, seed=seed, **cfg)
