"""Where a run starts from: ``resume_from`` (weights, optimizer state, epoch, iteration and best of a
checkpoint; ``'auto'``: the work dir's latest) or ``load_from`` (weights only, from a path or an
object-store URI). Rank 0 reads; every rank restores, as DDP needs equal weights and optimizer states
everywhere. DeepSpeed's optimizer state comes from its own checkpoint once its engine exists."""

from __future__ import annotations

from pathlib import Path

from workers.engine.checkpoint import find_latest_checkpoint, load_checkpoint, restore_training
from workers.engine.dist import broadcast_object, get_dist_info
from workers.engine.logger import RunLogger
from workers.engine.state import TrainState
from workers.engine.strategy import load_deepspeed_checkpoint
from workers.models import load_weights
from workers.storage import fetched, redact

__all__ = ["restore_deepspeed_state", "restore_start"]


def restore_start(state: TrainState, work_dir: Path, log: RunLogger, *, resume_from, load_from,
                  restore_optimizer: bool = True, hparams_from_spec: bool = False,
                  load_from_partial: bool = False) -> tuple[str | None, dict]:
    """Restore ``state`` (its unwrapped model and optimizer) from ``resume_from``, else load the weights of
    ``load_from``; neither, a fresh start.

    Args:
        state: The new run's state; resuming sets its ``epoch``, ``iter`` and ``best``.
        work_dir: Where ``resume_from='auto'`` looks for ``latest.pth``.
        log: The run's logger.
        resume_from: A checkpoint path, ``'auto'`` or ``None``.
        load_from: A checkpoint path or object-store URI, or ``None``.
        restore_optimizer: Load the checkpoint's optimizer state (off under DeepSpeed, see
            :func:`restore_deepspeed_state`).
        hparams_from_spec: Keep the optimizer hyperparameters the optimizer was built with.
        load_from_partial: Accept a ``load_from`` checkpoint that leaves weights of the model unloaded (the
            spec's ``load_from_partial``); without it such a checkpoint is refused with the list of those
            weights. A head of another size is skipped either way (the seed's fine-tuning).

    Returns:
        The checkpoint resumed from (``None`` when not resuming) and its ``meta``.
    """
    rank = get_dist_info()[0]
    if resume_from == "auto":
        found = broadcast_object(str(find_latest_checkpoint(work_dir) or "") if rank == 0 else None)
        resume_from = found or None
        log.info("auto resume: %s", resume_from or "no checkpoint in the work dir, starting afresh")
    if resume_from:
        checkpoint = broadcast_object(load_checkpoint(resume_from) if rank == 0 else None)
        meta = restore_training(checkpoint, state.model, state.optimizer if restore_optimizer else None,
                                hparams_from_spec=hparams_from_spec)
        state.epoch, state.iter = int(meta.get("epoch", 0)), int(meta.get("iter", 0))
        state.best = dict(meta.get("best") or {})
        log.info("resumed epoch %d, iter %d from %s", state.epoch, state.iter, resume_from)
        return str(resume_from), meta
    if load_from:
        checkpoint = broadcast_object(_load_from(str(load_from)) if rank == 0 else None)
        load_weights(state.model, checkpoint, strict=False, partial=load_from_partial)
        log.info("load checkpoint from %s", redact(load_from))
    return None, {}


def restore_deepspeed_state(engine, resume_from: str, meta: dict, log: RunLogger) -> None:
    """Load the optimizer state of a resumed DeepSpeed run from ``<checkpoint's folder>/deepspeed/<tag>``
    (``meta['deepspeed_tag']``); without it the run goes on with the weights alone."""
    tag = meta.get("deepspeed_tag")
    if load_deepspeed_checkpoint(engine, Path(resume_from).parent / "deepspeed", tag):
        log.info("restored DeepSpeed checkpoint %s (optimizer state)", tag)
    else:
        log.warning("no DeepSpeed checkpoint %s beside %s: weights resumed, optimizer state not", tag, resume_from)


def _load_from(location: str) -> dict:
    """``load_from``'s checkpoint: a path, or an object-store URI (``s3://...``, e.g. a forked run's
    checkpoint on the team's storage) fetched to a temporary file first."""
    with fetched(location) as local:
        return load_checkpoint(local)
