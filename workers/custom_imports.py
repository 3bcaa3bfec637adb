"""``custom_imports`` (seed 4.5, mmcv's ``import_modules_from_strings``): import the modules a spec names, so
that the hooks, transforms, models and optimizer constructors they register can be named by ``type=``.

Only modules on the allowlist are imported, checked here again whatever the loader checked before (the
spec may come from a stranger: a stored spec, a job file). The allowlist is the operator's
``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST`` (``pkg.mod`` or ``pkg.*``, comma-separated; the service copies its
setting into each Ray job's environment) and, on a user's own machine, the modules the user allows with
``trainyard --allow-import``. A module name is only ever a dotted name: nothing of a spec reaches a file path.
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings
from collections.abc import Iterable
from types import ModuleType

from jobspecs.loader import ALLOWLIST_ENV, allowlist, is_allowed_import

__all__ = ["CustomImportError", "allow_imports", "import_custom_modules"]

logger = logging.getLogger(__name__)


class CustomImportError(ImportError):
    """A ``custom_imports`` module that is not allowed here, or that failed to import."""


def allow_imports(modules: Iterable[str]) -> None:
    """Add ``modules`` to this process's allowlist (and its children's: DDP workers, data loaders): what a
    CLI user allows explicitly. Never called by the service."""
    extra = [m.strip() for m in modules if m and m.strip()]
    if extra:
        os.environ[ALLOWLIST_ENV] = ",".join(allowlist(extra))


def import_custom_modules(spec: dict, allowed: Iterable[str] | None = None) -> list[ModuleType]:
    """Import the modules of ``spec['custom_imports']`` (``dict(imports=[...], allow_failed_imports=False)``).

    Args:
        spec: A resolved spec.
        allowed: The allowlist to apply; ``None``: ``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST`` of this process.

    Returns:
        The imported modules (empty when the spec has no ``custom_imports``).

    Raises:
        CustomImportError: a module off the allowlist (never imported), or one that fails to import while
            ``allow_failed_imports`` is false (mmcv's default).
    """
    section = spec.get("custom_imports")
    if not section:
        return []
    if not isinstance(section, dict):
        raise CustomImportError("custom_imports must be dict(imports=['package.module'], allow_failed_imports=False)")
    imports = section.get("imports") or []
    names = [imports] if isinstance(imports, str) else list(imports)
    allowed = allowlist() if allowed is None else list(allowed)
    refused = [name for name in names if not is_allowed_import(name, allowed)]
    if refused:
        shown = ", ".join(allowed) if allowed else f"none ({ALLOWLIST_ENV} is empty)"
        raise CustomImportError(f"custom import {refused[0]!r} is not on the allowlist; allowed here: {shown}")
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as error:
            if not section.get("allow_failed_imports", False):
                raise CustomImportError(f"custom import {name!r} failed: {error}") from error
            warnings.warn(f"{name} failed to import and is ignored.", UserWarning, stacklevel=2)
        else:
            logger.info("custom import %s", name)
    return modules
