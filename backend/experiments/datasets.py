"""Registering datasets and checking their layout (issue #6, "Datasets").

A dataset is a folder on the shared storage in one of the two layouts of MMClassification's
CustomDataset (seed manual, "Tutorial 3: Customize Dataset", 6.1.1):

- ``folders``: ImageNet-style class folders, per split (``train/<class>/*.png``, ``val/...``) or,
  without splits, at the root (``<class>/*.png``; all of it counts as ``train``);
- ``ann-file``: ``meta/<split>.txt`` with ``<path> <class index>`` lines, paths relative to
  ``<split>/``; class names from ``meta/classes.txt`` or ``classes.txt`` if present.

A team registers one either by a path already on storage or by uploading a zip, which is
extracted into ``datasets/<team>/<name>/`` after checking every member's name (no absolute paths,
no ``..``, no links) and the total size against ``TRAINYARD_DATASET_UPLOAD_MAX_BYTES``.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from backend.accounts import access

from .models import Dataset
from .services import ServiceError
from .storage import Storage, StorageError, storage

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")
DEFAULT_UPLOAD_MAX_BYTES = 2 * 1024 ** 3
# Opening every image of a large dataset would take minutes: check this many per split.
READ_CHECK_PER_SPLIT = 200


def upload_max_bytes() -> int:
    return int(getattr(settings, "TRAINYARD_DATASET_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES))


def resolve_storage_path(path: str) -> tuple[str, Path]:
    """A folder on the storage named by a relative path: its key, and a local folder holding its files
    (the folder itself on a path storage; on an object store, the backend's scratch copy, brought up to date).

    Raises:
        ServiceError: for an absolute path, one that leaves the storage, or a missing folder.
    """
    rel = PurePosixPath((path or "").strip().replace("\\", "/"))
    if not str(rel) or str(rel) == "." or rel.is_absolute() or ".." in rel.parts:
        raise ServiceError("Give the dataset's folder relative to the storage root, without '..' "
                           f"(got {path!r}).", errors=[{"field": "path", "message": "invalid"}])
    st = storage()
    if st.is_local:
        root = Path(st.root)
        target = (root / rel).resolve()
        if root not in target.parents:
            raise ServiceError(f"{path!r} leaves the storage root.", errors=[{"field": "path", "message": "invalid"}])
        if not target.is_dir():
            raise ServiceError(f"No folder {path!r} on the storage.",
                               errors=[{"field": "path", "message": "not found"}])
        return target.relative_to(root).as_posix(), target
    key = st.key(rel.as_posix())  # no links on an object store: without '..' it cannot leave the storage
    if not st.is_dir(key):
        raise ServiceError(f"No folder {path!r} on the storage.", errors=[{"field": "path", "message": "not found"}])
    return key, _pull(st, key)


def _pull(st: Storage, key: str) -> Path:
    """The scratch copy of a folder on an object store, made the same as the stored one (files the store no
    longer holds are removed from it), for inspecting."""
    st.pull_tree(key, prune=lambda rel: True)
    return st.local(key)


# --- verification --------------------------------------------------------------------------------


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _read_classes(root: Path) -> list[str] | None:
    for candidate in (root / "meta" / "classes.txt", root / "classes.txt"):
        if candidate.is_file():
            return [line.strip() for line in candidate.read_text().splitlines() if line.strip()]
    return None


def _check_images(paths: list[Path]) -> list[str]:
    """Names of the images (of an evenly spread sample) that Pillow cannot read."""
    from PIL import Image

    step = max(1, len(paths) // READ_CHECK_PER_SPLIT)
    bad = []
    for p in paths[::step][:READ_CHECK_PER_SPLIT]:
        try:
            with Image.open(p) as im:
                im.verify()
        except Exception:
            bad.append(p.name)
    return bad


def fingerprint(root: Path) -> str:
    """SHA-256 of the sorted ``relative path, size`` lines of every file: changes when any file does."""
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(root).as_posix()}\t{p.stat().st_size}\n".encode())
    return h.hexdigest()


def inspect_folder(root: Path) -> dict:
    """Detect the layout of a dataset folder and count it.

    Args:
        root: The dataset's folder.

    Returns:
        ``layout`` (``folders``, ``ann-file`` or ``unknown``), ``ok``, ``classes``, ``splits``
        (per split: ``count``, ``per_class``, ``unreadable`` sample names, ``missing`` files),
        ``problems`` (sentences), ``fingerprint`` and ``checked_at``.
    """
    problems: list[str] = []
    splits: dict[str, dict] = {}
    classes: list[str] = []
    ann_splits = [s for s in SPLITS if (root / "meta" / f"{s}.txt").is_file()]
    folder_splits = [s for s in SPLITS if (root / s).is_dir() and _class_folders(root / s)]
    if ann_splits:
        layout = "ann-file"
        named = _read_classes(root)
        for split in ann_splits:
            per_class: dict[str, int] = {}
            missing, present, malformed = [], [], 0
            for line in (root / "meta" / f"{split}.txt").read_text().splitlines():
                parts = line.strip().rsplit(maxsplit=1)
                if not parts:
                    continue
                if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                    malformed += 1
                    continue
                rel, label = parts[0], int(parts[1])
                key = named[label] if named and 0 <= label < len(named) else str(label)
                per_class[key] = per_class.get(key, 0) + 1
                path = root / split / rel
                (present if path.is_file() else missing).append(path)
            if malformed:
                problems.append(f"meta/{split}.txt: {malformed} line(s) are not '<path> <class index>'.")
            if missing:
                problems.append(f"{split}: {len(missing)} file(s) listed in meta/{split}.txt are missing.")
            splits[split] = {"count": sum(per_class.values()), "per_class": per_class,
                             "missing": [p.name for p in missing[:20]], "unreadable": _check_images(present)}
        if named:
            classes = named
        else:
            labels = {int(k) for s in splits.values() for k in s["per_class"] if k.lstrip("-").isdigit()}
            classes = [str(i) for i in range(max(labels) + 1)] if labels else []
            for s in splits.values():
                if any(int(k) < 0 for k in s["per_class"]):
                    problems.append("Class indices must be 0 or more.")
    elif folder_splits or _class_folders(root):
        layout = "folders"
        split_dirs = {s: root / s for s in folder_splits} or {"train": root}
        for split, folder in split_dirs.items():
            per_class, images = {}, []
            for cls in _class_folders(folder):
                found = _images_under(folder / cls)
                per_class[cls] = len(found)
                images.extend(found)
            empty = [c for c, n in per_class.items() if n == 0]
            if empty:
                problems.append(f"{split}: class folder(s) without images: {', '.join(empty[:10])}.")
            splits[split] = {"count": len(images), "per_class": per_class, "missing": [],
                             "unreadable": _check_images(images)}
        classes = sorted({c for s in splits.values() for c in s["per_class"]})
        for split, s in splits.items():
            if set(s["per_class"]) != set(classes):
                problems.append(f"{split}: has {len(s['per_class'])} of the {len(classes)} classes.")
    else:
        layout = "unknown"
        problems.append("Neither class folders (train/<class>/...) nor annotation files (meta/<split>.txt) found.")
    for split, s in splits.items():
        if s["unreadable"]:
            problems.append(f"{split}: {len(s['unreadable'])} image(s) cannot be read, e.g. {s['unreadable'][0]}.")
    if layout != "unknown" and not any(s["count"] for s in splits.values()):
        problems.append("No images found.")
    return {"layout": layout, "ok": not problems, "classes": classes, "splits": splits, "problems": problems,
            "fingerprint": fingerprint(root), "checked_at": timezone.now().isoformat()}


def _apply_verification(ds: Dataset, report: dict) -> Dataset:
    ds.verification = report
    ds.fingerprint = report["fingerprint"]
    if report["classes"]:
        ds.classes = report["classes"]
    ds.num_train = report["splits"].get("train", {}).get("count", 0)
    ds.num_val = report["splits"].get("val", {}).get("count", 0)
    ds.save(update_fields=["verification", "fingerprint", "classes", "num_train", "num_val"])
    return ds


def verify_dataset(user, ds: Dataset) -> Dataset:
    """Check the dataset's folder again and store the result (a writer's action)."""
    access.require_write(user, ds.team)
    root = Path(ds.path)
    st = storage()
    if root.is_absolute() or st.is_local:
        root = root if root.is_absolute() else Path(st.root) / root
        present = root.is_dir()
    else:
        try:
            key = st.key(ds.path)
        except StorageError:
            present = False
        else:
            present = st.is_dir(key)
            if present:
                root = _pull(st, key)
    if not present:
        report = {"layout": "unknown", "ok": False, "classes": [], "splits": {}, "fingerprint": "",
                  "problems": [f"The folder {ds.path} is not on the storage any more."],
                  "checked_at": timezone.now().isoformat()}
        return _apply_verification(ds, report)
    return _apply_verification(ds, inspect_folder(root))


# --- zip uploads -----------------------------------------------------------------------------------


def _safe_members(zf: zipfile.ZipFile, max_bytes: int) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    members, total = [], 0
    for info in zf.infolist():
        name = info.filename.replace("\\", "/")
        rel = PurePosixPath(name)
        mode = info.external_attr >> 16
        drive = bool(rel.parts) and ":" in rel.parts[0]  # C:/... on the machine that zipped it
        if rel.is_absolute() or ".." in rel.parts or drive or not rel.parts:
            raise ServiceError(f"The zip holds an unsafe path: {info.filename!r}.")
        if stat.S_ISLNK(mode):
            raise ServiceError(f"The zip holds a symbolic link: {info.filename!r}.")
        if info.is_dir() or rel.parts[0] in ("__MACOSX",) or rel.name.startswith("._"):
            continue
        total += info.file_size
        if total > max_bytes:
            raise ServiceError(f"The zip unpacks to more than {max_bytes} bytes (the limit).")
        members.append((info, rel))
    return members


def _strip_common_folder(members):
    """A zip of ``digits/train/...`` is the same dataset as one of ``train/...``."""
    tops = {rel.parts[0] for _, rel in members if len(rel.parts) > 1}
    if len(tops) == 1 and all(len(rel.parts) > 1 for _, rel in members):
        top = tops.pop()
        if top not in SPLITS and top != "meta":
            return [(info, PurePosixPath(*rel.parts[1:])) for info, rel in members]
    return members


def extract_zip(upload, dest: Path, max_bytes: int | None = None) -> int:
    """Extract an uploaded zip into ``dest`` safely; returns the bytes written.

    The declared sizes are checked before anything is written, and the bytes actually written
    again while copying (a zip can lie about sizes).
    """
    max_bytes = upload_max_bytes() if max_bytes is None else max_bytes
    try:
        zf = zipfile.ZipFile(upload)
    except zipfile.BadZipFile:
        raise ServiceError("The upload is not a zip file.", errors=[{"field": "file", "message": "not a zip"}]) from None
    with zf:
        members = _strip_common_folder(_safe_members(zf, max_bytes))
        if not members:
            raise ServiceError("The zip is empty.", errors=[{"field": "file", "message": "empty"}])
        dest.mkdir(parents=True, exist_ok=False)
        written = 0
        for info, rel in members:
            target = dest.joinpath(*rel.parts)
            if dest.resolve() not in target.resolve().parents:
                raise ServiceError(f"The zip holds an unsafe path: {info.filename!r}.")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > max_bytes:
                        raise ServiceError(f"The zip unpacks to more than {max_bytes} bytes (the limit).")
                    out.write(chunk)
    return written


def register_dataset(user, *, team, name: str, path: str | None = None, upload=None,
                     description: str = "") -> Dataset:
    """Register a dataset from a storage folder or an uploaded zip, and verify it.

    Args:
        user: Who registers; a writer of ``team``.
        team: The team it belongs to.
        name: A slug, unique in the team.
        path: A folder relative to the storage root (exclusive with ``upload``).
        upload: A zip file object (exclusive with ``path``).
        description: Free text.

    Returns:
        The stored dataset with its verification report.
    """
    access.require_write(user, team)
    slug = slugify(name or "")[:100]
    if not slug:
        raise ServiceError("Give the dataset a name (letters, digits, '-').", errors=[{"field": "name", "message": "required"}])
    if bool(path) == bool(upload):
        raise ServiceError("Give either a path on the storage or a zip to upload, not both.")
    if Dataset.objects.filter(team=team, name=slug).exists():
        raise ServiceError(f"Team {team.name} already has a dataset named '{slug}'.",
                           errors=[{"field": "name", "message": "taken"}])
    if upload is None:
        path, folder = resolve_storage_path(path)
        report = inspect_folder(folder)
        try:
            with transaction.atomic():
                ds = Dataset.objects.create(team=team, name=slug, path=path, description=description or "")
        except IntegrityError:
            raise ServiceError(f"Team {team.name} already has a dataset named '{slug}'.") from None
        return _apply_verification(ds, report)
    return _register_upload(team, slug, upload, description)


def _register_upload(team, slug: str, upload, description: str) -> Dataset:
    """Extract a zip into ``datasets/<team>/<name>`` on this machine (on a path storage, its final place),
    inspect it, store it (an object store: upload the folder) and record it. On any failure what was
    written is removed again: nothing is left half-stored."""
    st = storage()
    rel = f"datasets/{team.slug}/{slug}"
    folder = st.local(rel)
    if folder.exists() or os.path.lexists(folder) or st.is_dir(rel):
        raise ServiceError(f"The storage already holds {rel}; pick another name.")
    stored = False
    try:
        extract_zip(upload, folder)
        report = inspect_folder(folder)
        stored = not st.is_local
        st.push_tree(folder, rel)  # nothing to copy on a path storage
        with transaction.atomic():
            ds = Dataset.objects.create(team=team, name=slug, path=rel, description=description or "")
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if stored:
            try:
                st.remove(rel)
            except OSError:
                log.exception("could not remove the half-stored upload %s", rel)
        if isinstance(exc, IntegrityError):
            raise ServiceError(f"Team {team.name} already has a dataset named '{slug}'.") from None
        raise
    return _apply_verification(ds, report)
