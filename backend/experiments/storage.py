"""The backend's door to ``TRAINYARD_STORAGE``: a path every node mounts, or an object store.

Everything the backend keeps there is named by a key (``runs/<id>/job.json``, ``datasets/<team>/<name>``);
:func:`storage` opens the configured location each time it is asked (``open_storage`` keeps one per location),
so a test that points ``settings.TRAINYARD_STORAGE`` elsewhere gets that storage.
"""
from __future__ import annotations

from django.conf import settings

from workers.storage import Storage, StorageError, open_storage


def storage() -> Storage:
    """The storage ``settings.TRAINYARD_STORAGE`` names (a path or a URI)."""
    return open_storage(str(settings.TRAINYARD_STORAGE))


__all__ = ["storage", "Storage", "StorageError"]
