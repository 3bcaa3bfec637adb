"""A run's checkpoint files: which records the reporter may make, which file a download serves, and which
rows still have their file (``max_keep_ckpts`` rotates old ones out).

Every checkpoint lies in its run's own folder, ``runs/<run id>/...`` (a sweep's trial trains in the folder of
its own run, ``workers/distributed/sweep.py``); rows stored before records were checked are checked again
wherever a file is served.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from .models import Checkpoint, Run
from .storage import key_in_folder, run_key, storage, storage_file

log = logging.getLogger(__name__)


def checkpoint_key(run: Run, path) -> str | None:
    """The storage key of a checkpoint a run's reporter records, if it lies in that run's own folder.

    Refused (None): an absolute path, ``..``, another folder, and on a path storage a file whose real location
    (links followed) leaves the run's folder.
    """
    return key_in_folder(run_key(run), path)


def checkpoint_file(ckpt: Checkpoint) -> str | None:
    """The key of a recorded checkpoint's file for a download, or None: gone, or outside its run's folder."""
    key = key_in_folder(f"runs/{ckpt.run_id}", ckpt.path)  # run_key's folder, without loading the run
    return storage_file(key) if key is not None else None


def with_availability(checkpoints) -> list[Checkpoint]:
    """The checkpoints, each with ``available`` set: whether a download would serve its file.

    One listing of each run's folder answers for all of that run's rows, instead of a storage request per
    row (an object store answers each with a round trip). A storage that cannot be reached right now counts
    as no: the run's page still shows.
    """
    rows = list(checkpoints)
    listed: dict[str, set[str]] = {}
    for ckpt in rows:
        folder = f"runs/{ckpt.run_id}"
        if folder not in listed:
            try:
                listed[folder] = _stored_files(folder)
            except OSError as exc:
                log.warning("checkpoints of %s: the storage did not answer (%s)", folder, exc)
                listed[folder] = set()
        ckpt.available = key_in_folder(folder, ckpt.path, follow_links=False) in listed[folder]
    return rows


def _stored_files(folder: str) -> set[str]:
    """The keys of the files a download may serve below ``folder``, from one listing.

    On a path storage a link counts only where it leads inside the folder (``latest.pth``), and nothing counts
    in a folder whose real location is not where its name says (``checkpoint_file`` refuses the same).
    """
    st = storage()
    if not st.is_local:
        return {f"{folder}/{entry.rel}" for entry in st.walk(folder)}
    root = Path(st.root)
    if (root / folder).resolve() != root / folder:
        return set()
    found = set()
    for dirpath, _dirs, names in os.walk(root / folder):  # a linked folder is listed, never entered
        for name in names:
            path = Path(dirpath, name)
            key = path.relative_to(root).as_posix()
            if not path.is_symlink() or (key_in_folder(folder, key) and storage_file(key)):
                found.add(key)
    return found
