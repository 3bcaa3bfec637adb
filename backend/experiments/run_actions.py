"""Actions on existing runs besides the state machine: tags, bulk cancel, forks.

Like the submit and lifecycle functions, these are called by the API and the dashboard alike; access is checked here
(``require_write`` per team), so neither caller can forget it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import transaction

from backend.accounts import access

from . import lifecycle
from .errors import ServiceError
from .models import Checkpoint, Run, Tag
from .specs import DEFAULT_RESOURCES

TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


def clean_tag(name: str) -> str:
    """A tag name as stored: lower case, ``[a-z0-9_-]``, at most 50 characters.

    Raises:
        ServiceError: for an empty name or one with other characters.
    """
    tag = (name or "").strip().lower().replace(" ", "-")
    if not TAG_RE.match(tag):
        raise ServiceError(
            f"A tag is 1-50 characters of a-z, 0-9, '-' and '_' (got {name!r}).",
            errors=[{"field": "tag", "message": "invalid"}])
    return tag


def tag_runs(user, runs, add=(), remove=()) -> list[Run]:
    """Add and remove tags on runs; a tag is created in the run's team the first time it is used.

    Args:
        user: Who asks; must be able to write in every run's team.
        runs: The runs (already reached through the access helpers).
        add: Tag names to put on the runs.
        remove: Tag names to take off.

    Returns:
        The runs.
    """
    add = [clean_tag(t) for t in add]
    remove = [clean_tag(t) for t in remove]
    runs = list(runs)
    for team_id in {r.team_id for r in runs}:
        access.require_write(user, team_id)
    with transaction.atomic():
        for run in runs:
            for name in add:
                tag, _ = Tag.objects.get_or_create(team_id=run.team_id, name=name)
                run.tags.add(tag)
            if remove:
                run.tags.remove(*Tag.objects.filter(team_id=run.team_id, name__in=remove))
    return runs


@dataclass
class BulkResult:
    id: str
    ok: bool
    detail: str


def cancel_runs(user, runs) -> list[BulkResult]:
    """Cancel each run; a run that already ended is reported, not an error for the others."""
    runs = list(runs)
    for team_id in {r.team_id for r in runs}:
        access.require_write(user, team_id)
    out = []
    for run in runs:
        try:
            lifecycle.cancel(user, run)
        except ServiceError as err:
            out.append(BulkResult(str(run.pk), False, err.message))
        else:
            out.append(BulkResult(str(run.pk), True, "cancel requested"))
    return out


def checkpoint_reference(ckpt: Checkpoint) -> str:
    """What a new run's ``load_from`` names a checkpoint by: its id, which the server resolves into the job
    (never a path or URI on the storage: ``jobspecs/paths.py``)."""
    return f"checkpoint:{ckpt.pk}"


def fork_run(run: Run, checkpoint: Checkpoint | None = None) -> dict:
    """The new-run form's initial values for a run started from ``run``'s spec.

    Stores nothing: the user reviews and submits the form. From a checkpoint, ``load_from`` names it by id
    (``checkpoint:<id>``) as a cfg option, the way MMClassification fine-tunes from a checkpoint.

    Args:
        run: The run to start from.
        checkpoint: One of ``run``'s checkpoints, or None for the spec alone.

    Returns:
        ``spec_name``, ``spec_text`` (one of them set), ``cfg_options`` (``key=value`` lines),
        ``dataset``, ``name`` and the resources.
    """
    if checkpoint is not None and checkpoint.run_id != run.pk:
        raise ServiceError("That checkpoint belongs to another run.")
    options = {k: v for k, v in (run.cfg_options or {}).items() if k != "load_from"}
    lines = [f"{k}={_option_value(v)}" for k, v in options.items()]
    suffix = " (fork)"
    if checkpoint is not None:
        lines.append(f"load_from={checkpoint_reference(checkpoint)}")
        suffix = f" (from epoch {checkpoint.epoch})"
    res = run.resources or {}
    return {
        "spec_name": run.spec_name, "spec_text": "" if run.spec_name else run.spec_text,
        "cfg_options": lines, "dataset": run.dataset.name, "name": (run.name + suffix)[:200],
        "num_workers": str(res.get("num_workers", DEFAULT_RESOURCES["num_workers"])),
        "cpus_per_worker": str(res.get("cpus_per_worker", DEFAULT_RESOURCES["cpus_per_worker"])),
        "strategy": res.get("strategy", "ddp"),
    }


def _option_value(value) -> str:
    """A cfg option's value as ``--cfg-options`` text (lists without spaces, strings bare)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        inner = ",".join(_option_value(v) if not isinstance(v, str) else repr(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return repr(value)
