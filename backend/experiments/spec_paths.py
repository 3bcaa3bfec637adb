"""The server's half of the path policy (``jobspecs/paths.py``): checking a spec's paths at submit, resolving
the checkpoints it names, and the map of them a job file carries.

A spec names another run's checkpoint only by id (``load_from='checkpoint:123'``) or by its key on the
service's own storage (what older forks wrote); the submitter must be able to read that run, and the file must
still be there. The resolved spec keeps ``'checkpoint:<id>'``; the job file maps it to the storage key, so the
worker reads exactly the file the server chose (and a user never sees a storage URI).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from django.conf import settings

from backend.accounts import access
from jobspecs import paths as policy
from workers.storage import StorageError, is_uri

from .checkpoints import checkpoint_file
from .models import Checkpoint
from .storage import storage


@dataclass
class PathProblem:
    """One refused path, as ``specs.SpecProblem`` wants it."""

    message: str
    filename: str | None
    line: int | None
    column: int | None
    hint: str | None


def allowed_url_hosts() -> list[str]:
    return list(getattr(settings, "TRAINYARD_CHECKPOINT_URL_HOSTS", []) or [])


def own_storage_key(value: str) -> str | None:
    """The key of ``value`` on the service's own storage (a URI or absolute path below it, or a key), else None."""
    st = storage()
    try:
        if is_uri(value) or os.path.isabs(value):
            return st.relative(value) or None
        return st.key(value) or None
    except (StorageError, ValueError):
        return None


def check_spec(spec: dict, positions, *, user=None, sweep_space: dict | None = None) -> list[PathProblem]:
    """Every path-policy problem of a resolved spec (and of the values its sweep space may give a path field).

    With ``user``, the checkpoints the spec names are resolved too: each must be one of a run the user may read,
    still on the storage; a checkpoint named by key becomes ``'checkpoint:<id>'`` in ``spec`` (changed in place).
    """
    hosts = allowed_url_hosts()
    errors, refs = policy.check(spec, positions, allowed_url_hosts=hosts, own_storage=own_storage_key)
    space_refs: list[policy.CheckpointRef] = []
    if sweep_space:
        more, space_refs = policy.check_sweep_space(sweep_space, positions, allowed_url_hosts=hosts,
                                                    own_storage=own_storage_key)
        errors += more
    problems = [PathProblem(e.message, e.filename, e.lineno, e.col, e.hint) for e in errors]
    if user is None:
        return problems

    def refuse(ref: policy.CheckpointRef, why: str, where_path: tuple) -> None:
        where = positions.nearest(where_path) if positions is not None else None
        filename, line, col = where or (getattr(positions, "filename", "<spec>"), None, None)
        problems.append(PathProblem(f"{ref.location.dotted}: {why}", filename, line, col,
                                    "name a checkpoint listed on a run of your team, e.g. 'checkpoint:123'"))

    for ref in refs:
        ckpt, why = _readable_checkpoint(user, ref)
        if ckpt is None:
            refuse(ref, why, ref.location.path)
        elif ref.key is not None:  # the resolved spec keeps the id, never a storage path or URI
            _set(spec, ref.location.path, f"checkpoint:{ckpt.pk}")
    for ref in space_refs:  # a sweep's values reach the job file by id only
        ckpt, why = _readable_checkpoint(user, ref)
        if ckpt is None or ref.key is not None:
            why = why or f"name it by id in a sweep space: 'checkpoint:{ckpt.pk}'"
            refuse(ref, why, ("sweep", "space"))
    return problems


def _readable_checkpoint(user, ref: policy.CheckpointRef) -> tuple[Checkpoint | None, str]:
    """The checkpoint ``ref`` names if ``user`` may read its run and the file is still stored; else why not.

    Another team's checkpoint gets the same answer as one that does not exist: no oracle."""
    qs = Checkpoint.objects.filter(run__team_id__in=access.team_ids(user)).select_related("run")
    if ref.checkpoint_id is not None:
        ckpt = qs.filter(pk=ref.checkpoint_id).first()
        named = f"checkpoint:{ref.checkpoint_id}"
    else:
        ckpt = qs.filter(path=ref.key).first()
        named = repr(ref.location.value[:120])
    if ckpt is None:
        return None, f"{named} is not a checkpoint of a run you can read"
    if checkpoint_file(ckpt) is None:  # rotated out (or, a row from before records were checked, elsewhere)
        return None, (f"{named} (epoch {ckpt.epoch} of run '{ckpt.run.name}') is no longer on the storage "
                      "(max_keep_ckpts may have rotated it out)")
    return ckpt, ""


def _set(spec: dict, path: tuple, value) -> None:
    node = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def job_checkpoints(specs: list[dict], user, sweep_space: dict | None = None) -> dict[str, str]:
    """``{'checkpoint:<id>': key}`` for every checkpoint the specs (and a sweep's space values) name, as the
    job file carries it. Resolved again at dispatch for the run's submitter: a checkpoint of a team they have
    left since is not resolved, and the worker then refuses the reference by name."""
    wanted: set[int] = set()
    for spec in specs:
        for loc in policy.locations(spec):
            if loc.field.area == "checkpoint" and (ident := policy.checkpoint_ref(loc.value)) is not None:
                wanted.add(ident)
    for domain in (sweep_space or {}).values():
        for value in (domain.get("values") or []) if isinstance(domain, dict) else []:
            if isinstance(value, str) and (ident := policy.checkpoint_ref(value)) is not None:
                wanted.add(ident)
    if not wanted or user is None:
        return {}
    found = {}
    for ckpt in Checkpoint.objects.filter(pk__in=wanted, run__team_id__in=access.team_ids(user)):
        key = checkpoint_file(ckpt)  # in its run's folder and still stored
        if key is not None:
            found[f"checkpoint:{ckpt.pk}"] = key
    return found
