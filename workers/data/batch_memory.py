"""Shared memory that loader workers reuse for their batches' images (issue 15).

A loader worker collates a batch's images straight into shared memory, which the training process maps to
receive them without a copy (PyTorch's ``file_descriptor`` sharing). A fresh block for every batch cost the
worker more than its copy into it: the kernel allocates and zero-fills each page on its first write
(~1,200 page faults for a 32x3x224x224 uint8 batch) and frees them again once the training process is done:
allocating and filling a fresh block took ~8 ms against ~3 ms for a copy into reused memory on the loaded
2-core machine of issue 15. Here each worker keeps a few blocks and collates the next batch into one that
the training process no longer uses.

How a worker knows: :class:`BatchMemory` has a small shared table with a slot per worker and block, made by
``build_dataloader`` before the workers start. The worker writes a token into a clear slot when it fills
that block, and sends the batch as a :class:`LeasedBatch`. Unpickling it in the training process (or in
its pin-memory thread) returns a plain ``dict`` and records a weak reference to the received storage; each
time a leased batch arrives, the slots whose storages are gone (the consumer dropped the batch, it was
copied to pinned memory, a reset of the iterator discarded it) are cleared. Only the worker fills a clear
slot and only the training process clears one, and only while it holds the token that process recorded, so
a block is never written while any tensor of the training process still uses it. A worker that finds no
clear slot (the consumer keeps its batches, e.g. ``list(loader)``) collates into a fresh block, as before.

One thing the training process cannot see: a batch it passes on to a third process (through a
``torch.multiprocessing`` queue) shares the worker's block with it, and the block is taken again once the
training process itself has dropped the batch. Clone the images before sending them on.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref

import torch
from torch.multiprocessing.reductions import StorageWeakRef

__all__ = ["MIN_POOLED_BYTES", "BatchMemory", "LeasedBatch"]

MIN_POOLED_BYTES = 64 * 1024
"""Smaller stacked tensors (labels) take a fresh block: too small to pay, and a caller that keeps its labels
(an evaluation loop) must not hold a worker's image block with them."""

_MEMORIES: weakref.WeakValueDictionary[str, BatchMemory] = weakref.WeakValueDictionary()
_LEASES: list[tuple[str, int, int, int, StorageWeakRef]] = []  # (memory key, worker, slot, token, storage)
_LOCK = threading.Lock()
_KEYS = itertools.count()


class BatchMemory:
    """The reusable image blocks of one loader's workers and the shared table of which are in use.

    Args:
        num_workers: The loader's worker processes.
        blocks_per_worker: Blocks each worker may keep (batches in flight plus those the consumer holds).
    """

    def __init__(self, num_workers: int, blocks_per_worker: int):
        self.key = f"{os.getpid()}-{next(_KEYS)}"
        self.tokens = torch.zeros((num_workers, blocks_per_worker), dtype=torch.int64).share_memory_()
        self._local()
        _MEMORIES[self.key] = self

    def _local(self) -> None:
        """The state of one worker process (not pickled: a spawned worker starts without blocks)."""
        self._table = self.tokens.numpy()
        self._blocks: dict[int, torch.UntypedStorage] = {}
        self._fills = 0

    def __getstate__(self) -> dict:
        return {"key": self.key, "tokens": self.tokens}

    def __setstate__(self, state: dict) -> None:
        self.key = state["key"]
        self.tokens = state["tokens"]
        self._local()

    def take(self, worker_id: int, nbytes: int) -> tuple[torch.UntypedStorage, tuple[str, int, int, int]] | None:
        """In worker ``worker_id``: a block of ``nbytes`` that no batch in the training process uses, marked
        in use, and its lease; ``None`` when every slot is in use.

        A clear slot whose block has that size comes first, then an empty slot, then one whose block has
        another size (e.g. after the last, smaller batch of an epoch), which gets a new block."""
        row = self._table[worker_id]
        clear = [slot for slot in range(row.shape[0]) if row[slot] == 0]
        if not clear:
            return None
        sizes = {slot: self._blocks[slot].nbytes() if slot in self._blocks else -1 for slot in clear}
        slot = min(clear, key=lambda s: (sizes[s] != nbytes, sizes[s] != -1))
        block = self._blocks.get(slot)
        if block is None or block.nbytes() != nbytes:
            block = torch.UntypedStorage._new_shared(nbytes)
            self._blocks[slot] = block
        self._fills += 1
        token = (os.getpid() << 24) | (self._fills & 0xFFFFFF) or 1  # not 0, which means "clear"
        row[slot] = token
        return block, (self.key, worker_id, slot, token)


def _release_unused() -> None:
    """Clear the slots of leased storages that the training process no longer holds (with ``_LOCK``)."""
    kept = []
    for lease in _LEASES:
        key, worker_id, slot, token, storage = lease
        if not storage.expired():
            kept.append(lease)
            continue
        memory = _MEMORIES.get(key)
        if memory is not None and memory._table[worker_id, slot] == token:
            memory._table[worker_id, slot] = 0
    _LEASES[:] = kept


def _receive(batch: dict, leases: list[tuple[str, int, int, int, str]]) -> dict:
    """Unpickling a :class:`LeasedBatch` in the training process: record its leases, release the storages
    that are gone, return the plain dict."""
    with _LOCK:
        _release_unused()
        for key, worker_id, slot, token, batch_key in leases:
            storage = batch[batch_key].untyped_storage()
            _LEASES.append((key, worker_id, slot, token, StorageWeakRef(storage)))
    return batch


class LeasedBatch(dict):
    """A collated batch in a loader worker whose tensors under some keys lie in blocks of a
    :class:`BatchMemory`; it unpickles as a plain ``dict`` whose leases the receiving process records.

    Args:
        batch: The collated batch.
        leases: ``(memory key, worker, slot, token, batch key)`` of each tensor in a reused block.
    """

    def __init__(self, batch: dict, leases: list[tuple[str, int, int, int, str]]):
        super().__init__(batch)
        self.leases = leases

    def __reduce__(self):
        return _receive, (dict(self), self.leases)
