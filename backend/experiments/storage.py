"""The backend's door to ``TRAINYARD_STORAGE``: a path every node mounts, or an object store.

Everything the backend keeps there is named by a key (``runs/<id>/job.json``, ``datasets/<team>/<name>``);
:func:`storage` opens the configured location each time it is asked (``open_storage`` keeps one per location),
so a test that points ``settings.TRAINYARD_STORAGE`` elsewhere gets that storage.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from django.conf import settings

from jobspecs.paths import relative_problem
from workers.storage import Storage, StorageError, open_storage


def storage() -> Storage:
    """The storage ``settings.TRAINYARD_STORAGE`` names (a path or a URI)."""
    return open_storage(str(settings.TRAINYARD_STORAGE))


def run_key(run) -> str:
    """A run's folder on the storage, as a key: ``runs/<id>`` (job.json, work/ with the checkpoints).

    A sweep's trial trains in the folder of its own run too (``workers/distributed/sweep.py``).
    """
    return f"runs/{run.pk}"


def sweep_key(sweep) -> str:
    """A sweep's folder on the storage, as a key: ``sweeps/<id>``."""
    return f"sweeps/{sweep.pk}"


def key_in_folder(folder: str, path, *, follow_links: bool = True) -> str | None:
    """``path`` as a key, if it names something inside ``folder`` (a key); else None.

    Refused: an absolute path, ``..`` (the path policy's rule), another folder, and (``follow_links``) on a
    path storage a name whose real location leaves the folder. Without ``follow_links`` the name alone is
    checked: no storage I/O.
    """
    text = str(path or "")
    if not text or "\\" in text or len(text) > 500 or relative_problem(text):
        return None
    key = PurePosixPath(text).as_posix()
    if not key.startswith(folder + "/"):
        return None
    st = storage() if follow_links else None
    if st is not None and st.is_local:
        # The folder as named under the storage root, not resolved itself: a ``runs/<id>`` that is a link to
        # elsewhere must not move the boundary with it.
        if Path(st.root) / folder not in (Path(st.root) / key).resolve().parents:
            return None
    return key


def storage_file(relpath: str) -> str | None:
    """The key of a file on the storage named by ``relpath``, or None if it leaves the storage or is missing.

    On a path storage links are followed and what they lead to must be inside the storage too (the key
    returned is the file's own, after resolving); on an object store the key must be one (no ``..``, not
    absolute) and name an object.
    """
    st = storage()
    try:
        if st.is_local:
            root = Path(st.root)
            target = (root / relpath).resolve()
            if root not in target.parents or not target.is_file():
                return None
            return target.relative_to(root).as_posix()
        key = st.key(relpath)
        return key if key and st.is_file(key) else None
    except StorageError:  # an absolute path or one with '..'
        return None


__all__ = ["storage", "Storage", "StorageError", "run_key", "sweep_key", "key_in_folder", "storage_file"]
