"""Registering datasets and checking their layout (issue #6, "Datasets"; issue #13, "Trust boundary").

A dataset is a folder on the shared storage in one of the two layouts of MMClassification's
CustomDataset (seed manual, "Tutorial 3: Customize Dataset", 6.1.1):

- ``folders``: ImageNet-style class folders, per split (``train/<class>/*.png``, ``val/...``) or,
  without splits, at the root (``<class>/*.png``; all of it counts as ``train``);
- ``ann-file``: ``meta/<split>.txt`` with ``<path> <class index>`` lines, paths relative to
  ``<split>/``; class names from ``meta/classes.txt`` or ``classes.txt`` if present.

Datasets belong to teams: a team's live under ``datasets/<team slug>/`` on the storage, and a folder
registered by path must lie inside that area or inside a folder the operator shares with every team
(``TRAINYARD_SHARED_DATASETS``), links followed on a path storage; dispatch checks it again
(:func:`stored_dataset_key`). A zip upload is extracted into ``datasets/<team>/<name>/`` after checking
every member's name (no absolute paths, no ``..``, no links, no ``.link`` names), the entry count, the
compression ratio and the total size (``TRAINYARD_DATASET_UPLOAD_MAX_*``). Verification decodes a sample of
the images, refusing any over ``TRAINYARD_MAX_IMAGE_PIXELS`` before decoding it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from backend.accounts import access
from jobspecs.paths import relative_problem

from . import throttles
from .errors import DispatchRefused, ServiceError
from .models import Dataset
from .storage import Storage, storage

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")
DEFAULT_UPLOAD_MAX_BYTES = 2 * 1024 ** 3
DEFAULT_UPLOAD_MAX_FILES = 200_000
DEFAULT_UPLOAD_MAX_RATIO = 100
# Below this many unpacked bytes a member (or the whole zip) is not held to the ratio: a small text file of
# repeated lines compresses 200:1 and harms no one; a bomb is only a bomb when it is big.
RATIO_FLOOR_BYTES = 1024 ** 2
# The same default as workers/data/transforms/loading.py (the worker reads the same environment variable).
DEFAULT_MAX_IMAGE_PIXELS = 64 * 1024 ** 2
# The storage encodes a symbolic link as an object ``<name>.link`` (workers/storage.py): an upload holding such
# a name could plant one that a later pull would follow.
LINK_SUFFIX = ".link"
# Opening every image of a large dataset would take minutes: check this many per split.
READ_CHECK_PER_SPLIT = 200


def upload_max_bytes() -> int:
    return int(getattr(settings, "TRAINYARD_DATASET_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES))


def upload_max_files() -> int:
    return int(getattr(settings, "TRAINYARD_DATASET_UPLOAD_MAX_FILES", DEFAULT_UPLOAD_MAX_FILES))


def upload_max_ratio() -> float:
    return float(getattr(settings, "TRAINYARD_DATASET_UPLOAD_MAX_RATIO", DEFAULT_UPLOAD_MAX_RATIO))


def max_image_pixels() -> int:
    return int(getattr(settings, "TRAINYARD_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS))


# --- where a team's datasets may be ----------------------------------------------------------------


def team_area(team) -> str:
    """The storage key below which ``team``'s datasets live: ``datasets/<team slug>``."""
    return f"datasets/{team.slug}"


def shared_areas() -> list[str]:
    """The folders (storage keys) the operator shares with every team, read-only (``TRAINYARD_SHARED_DATASETS``)."""
    return [str(k) for k in getattr(settings, "TRAINYARD_SHARED_DATASETS", ()) or ()]


def _outside_areas(team, path) -> ServiceError:
    """The one answer for every folder a team may not register: the same words whether the folder exists or
    not, so the answer tells nothing about other teams' folders."""
    shared = shared_areas()
    where = f"inside your team's area datasets/{team.slug}/"
    if shared:
        where += " or inside a shared folder (" + ", ".join(f"{k}/" for k in shared) + ")"
    return ServiceError(
        f"A dataset must be a folder {where}, named relative to the storage root without '..' (got {path!r}). "
        "Upload a zip instead, or ask an operator to place the data there or to share its folder "
        "(TRAINYARD_SHARED_DATASETS).",
        errors=[{"field": "path", "message": "outside the team's datasets"}])


def _lexical_area(team, path) -> tuple[str, str]:
    """``(key, area)``: the key ``path`` names and the area (the team's, or a shared folder) it lies in, by its
    name alone. The team's own area holds datasets (a folder strictly below it); a shared folder may be one.

    Raises:
        ServiceError: for an absolute path, ``..``, the root, or a folder outside every area.
    """
    text = str(path or "").strip().replace("\\", "/")
    rel = PurePosixPath(text)
    if not text or relative_problem(text) or not rel.parts:
        raise _outside_areas(team, path)
    own = PurePosixPath(team_area(team))
    if own in rel.parents:
        return rel.as_posix(), own.as_posix()
    for area in shared_areas():
        shared = PurePosixPath(area)
        if rel == shared or shared in rel.parents:
            return rel.as_posix(), shared.as_posix()
    raise _outside_areas(team, path)


def _resolved_in_area(st: Storage, key: str, area: str) -> Path | None:
    """On a path storage, the folder ``key`` names with every link followed, if that still lies in ``area``
    (itself resolved: an operator may have linked a shared folder or ``datasets/`` to another disk), else None."""
    root = Path(st.root)
    folder, base = (root / key).resolve(), (root / area).resolve()
    # the team's own area holds datasets below it; a shared folder may itself be one
    if base in folder.parents or (folder == base and area in shared_areas()):
        return folder
    return None


def resolve_storage_path(path: str, team) -> tuple[str, Path]:
    """A folder on the storage a team may register as a dataset: its key, and a local folder holding its files
    (the folder itself on a path storage; on an object store, the backend's scratch copy, brought up to date).

    The area is checked before the folder's existence, so a folder outside it gets the same answer whether
    it exists or not.

    Args:
        path: The folder, relative to the storage root.
        team: The team registering it.

    Raises:
        ServiceError: for a folder outside the team's area and the shared ones (``..``, absolute paths and
            links leading out included), or a missing folder.
    """
    key, area = _lexical_area(team, path)
    st = storage()
    missing = ServiceError(f"No folder {path!r} on the storage.", errors=[{"field": "path", "message": "not found"}])
    if st.is_local:
        target = _resolved_in_area(st, key, area)
        if target is None:
            raise _outside_areas(team, path)
        if not target.is_dir():
            raise missing
        return key, target
    if not st.is_dir(key):  # no links on an object store: the key's name is where it is
        raise missing
    return key, _pull(st, key)


def stored_dataset_key(ds: Dataset) -> str:
    """The storage key of a stored dataset, checked again: it must lie in its team's area or a shared folder
    (a row stored before team areas, or edited in the admin, may not), links followed on a path storage.

    Raises:
        DispatchRefused: naming the dataset, its path and where it should be.
    """
    try:
        key, area = _lexical_area(ds.team, ds.path)
        st = storage()
        if st.is_local and _resolved_in_area(st, key, area) is None:
            raise _outside_areas(ds.team, ds.path)
    except ServiceError as err:
        raise DispatchRefused(
            f"Dataset '{ds.name}' is at {ds.path!r}, outside team {ds.team.slug}'s area "
            f"datasets/{ds.team.slug}/ and the shared folders, so no run may read it. Register it again from "
            "inside the area (or upload it as a zip).", errors=err.errors) from None
    return key


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


def _check_images(paths: list[Path]) -> tuple[list[str], list[str]]:
    """Decode an evenly spread sample of the images: ``(unreadable, too_large)`` names.

    Each image is checked by ``workers.tools.verify_dataset.check_image``, the code of ``trainyard
    verify-dataset``: ``Image.verify()`` alone decodes nothing; ``load()`` does, so an image's size is checked
    against ``TRAINYARD_MAX_IMAGE_PIXELS`` first (``Image.open`` reads only the header): a decompression bomb is
    named, never decoded. Pillow's own bomb check (over twice ``Image.MAX_IMAGE_PIXELS``) fires in ``open``.
    """
    from workers.tools.verify_dataset import check_image  # torch-free: the web process stays small

    limit = max_image_pixels()
    step = max(1, len(paths) // READ_CHECK_PER_SPLIT)
    bad, large = [], []
    for p in paths[::step][:READ_CHECK_PER_SPLIT]:
        problem = check_image(p, limit)
        if problem is None:
            continue
        if problem.kind == "too_large":
            large.append(f"{p.name} ({problem.size[0]}x{problem.size[1]})" if problem.size else p.name)
        else:
            bad.append(p.name)
    return bad, large


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
            missing, present, malformed, outside = [], [], 0, []
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
                if relative_problem(rel):  # never looked at: the web host's files are no one's dataset
                    outside.append(rel)
                    continue
                path = root / split / rel
                (present if path.is_file() else missing).append(path)
            if malformed:
                problems.append(f"meta/{split}.txt: {malformed} line(s) are not '<path> <class index>'.")
            if outside:
                problems.append(f"meta/{split}.txt: {len(outside)} line(s) name a file outside the dataset, "
                                f"e.g. {outside[0][:100]!r}; a run refuses them.")
            if missing:
                problems.append(f"{split}: {len(missing)} file(s) listed in meta/{split}.txt are missing.")
            unreadable, too_large = _check_images(present)
            splits[split] = {"count": sum(per_class.values()), "per_class": per_class,
                             "missing": [p.name for p in missing[:20]], "unreadable": unreadable,
                             "too_large": too_large}
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
            unreadable, too_large = _check_images(images)
            splits[split] = {"count": len(images), "per_class": per_class, "missing": [],
                             "unreadable": unreadable, "too_large": too_large}
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
        if s["too_large"]:
            problems.append(f"{split}: {len(s['too_large'])} image(s) have more than {max_image_pixels()} pixels "
                            f"(TRAINYARD_MAX_IMAGE_PIXELS), e.g. {s['too_large'][0]}; training refuses them.")
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
    """Check the dataset's folder again and store the result (a writer's action).

    A folder outside the team's area and the shared ones (a row from before team areas, or edited in the
    admin) is not looked at: the report says where it should be.
    """
    access.require_write(user, ds.team)
    try:
        key = stored_dataset_key(ds)
    except DispatchRefused as err:
        return _apply_verification(ds, _failed_report(err.message))
    st = storage()
    if st.is_local:
        root = Path(st.root) / key
        present = root.is_dir()
    else:
        present = st.is_dir(key)
        if present:
            root = _pull(st, key)
    if not present:
        return _apply_verification(ds, _failed_report(f"The folder {ds.path} is not on the storage any more."))
    return _apply_verification(ds, inspect_folder(root))


def _failed_report(problem: str) -> dict:
    return {"layout": "unknown", "ok": False, "classes": [], "splits": {}, "fingerprint": "",
            "problems": [problem], "checked_at": timezone.now().isoformat()}


# --- zip uploads -----------------------------------------------------------------------------------


def _check_ratio(what: str, unpacked: int, packed: int, max_ratio: float) -> None:
    """Refuse ``unpacked`` bytes from ``packed`` at more than ``max_ratio``:1, once over ``RATIO_FLOOR_BYTES``."""
    if unpacked > RATIO_FLOOR_BYTES and unpacked > max_ratio * max(packed, 1):
        raise ServiceError(
            f"{what} unpacks to {unpacked} bytes from {packed} (more than {max_ratio:g}:1, the limit for anything "
            f"over {RATIO_FLOOR_BYTES} bytes): a zip bomb? Images barely compress; raise "
            "TRAINYARD_DATASET_UPLOAD_MAX_RATIO if this data really does.",
            errors=[{"field": "file", "message": "compression ratio"}])


def _safe_members(zf: zipfile.ZipFile, max_bytes: int, max_files: int | None = None,
                  max_ratio: float | None = None) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """The members to extract, checked on what the zip declares: names, links, count, ratio and size."""
    max_files = upload_max_files() if max_files is None else max_files
    max_ratio = upload_max_ratio() if max_ratio is None else max_ratio
    infos = zf.infolist()
    if len(infos) > max_files:
        raise ServiceError(f"The zip holds {len(infos)} entries, more than {max_files} (the limit, "
                           "TRAINYARD_DATASET_UPLOAD_MAX_FILES).", errors=[{"field": "file", "message": "too many files"}])
    # Each member's compressed bytes lie between its local header and the next header (or the central
    # directory): a member declaring more compressed bytes than that lies, or overlaps another (the
    # "non-recursive zip bomb" of overlapping files), and its ratio could not be trusted.
    starts = sorted({i.header_offset for i in infos} | {zf.start_dir})
    span = {off: nxt - off for off, nxt in zip(starts, starts[1:], strict=False)}
    seen: set[int] = set()
    members, total, packed = [], 0, 0
    for info in infos:
        if info.header_offset in seen or info.compress_size > span.get(info.header_offset, 0):
            raise ServiceError(f"The zip member {info.filename!r} declares more compressed bytes than the zip holds "
                               "for it (a damaged zip, or one whose members overlap).",
                               errors=[{"field": "file", "message": "damaged"}])
        seen.add(info.header_offset)
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
        if rel.name.lower().endswith(LINK_SUFFIX):
            raise ServiceError(f"The zip holds {info.filename!r}: names ending in '{LINK_SUFFIX}' are refused (the "
                               "storage keeps its links under such names). Rename the file.",
                               errors=[{"field": "file", "message": "a '.link' name"}])
        _check_ratio(f"The zip member {info.filename!r}", info.file_size, info.compress_size, max_ratio)
        total += info.file_size
        packed += info.compress_size
        if total > max_bytes:
            raise ServiceError(f"The zip unpacks to more than {max_bytes} bytes (the limit).")
        members.append((info, rel))
    _check_ratio("The zip", total, packed, max_ratio)
    return members


# Folders a dataset class looks for by name under its data_prefix (CIFAR's archives unpack to them): a zip of
# just that folder keeps it.
NAMED_FOLDERS = ("cifar-10-batches-py", "cifar-100-python")


def _strip_common_folder(members):
    """A zip of ``digits/train/...`` is the same dataset as one of ``train/...``."""
    tops = {rel.parts[0] for _, rel in members if len(rel.parts) > 1}
    if len(tops) == 1 and all(len(rel.parts) > 1 for _, rel in members):
        top = tops.pop()
        if top not in SPLITS and top != "meta" and top not in NAMED_FOLDERS:
            return [(info, PurePosixPath(*rel.parts[1:])) for info, rel in members]
    return members


def extract_zip(upload, dest: Path, max_bytes: int | None = None) -> int:
    """Extract an uploaded zip into ``dest`` safely; returns the bytes written.

    The declared sizes (and entry count, and compression ratios) are checked before anything is written, and
    the bytes actually written again while copying: a zip can lie about sizes. The caller removes ``dest``
    when this raises.
    """
    max_bytes = upload_max_bytes() if max_bytes is None else max_bytes
    max_ratio = upload_max_ratio()
    try:
        zf = zipfile.ZipFile(upload)
    except zipfile.BadZipFile:
        raise ServiceError("The upload is not a zip file.", errors=[{"field": "file", "message": "not a zip"}]) from None
    with zf:
        members = _strip_common_folder(_safe_members(zf, max_bytes, max_ratio=max_ratio))
        if not members:
            raise ServiceError("The zip is empty.", errors=[{"field": "file", "message": "empty"}])
        dest.mkdir(parents=True, exist_ok=False)
        try:
            written = _copy_members(zf, members, dest, max_bytes, max_ratio)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a CRC that does not match (sizes that lie)
            raise ServiceError(f"The zip is damaged: {exc}.", errors=[{"field": "file", "message": "damaged"}]) from None
    return written


def _copy_members(zf: zipfile.ZipFile, members, dest: Path, max_bytes: int, max_ratio: float) -> int:
    """Write the members under ``dest``, counting the bytes actually written against the limits."""
    written, packed = 0, 0
    for info, rel in members:
        target = dest.joinpath(*rel.parts)
        if dest.resolve() not in target.resolve().parents:
            raise ServiceError(f"The zip holds an unsafe path: {info.filename!r}.")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file and a folder of one name (``train/cat`` and ``train/cat/1.png``)
            raise ServiceError(f"The zip cannot be extracted at {info.filename!r}: {exc.strerror}.") from None
        # zipfile reads at most the declared compressed size of a member: the ratios hold for the bytes
        # written too, were a reader ever to stream more than the declared size.
        packed += info.compress_size
        member = 0
        with zf.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                member += len(chunk)
                written += len(chunk)
                if written > max_bytes:
                    raise ServiceError(f"The zip unpacks to more than {max_bytes} bytes (the limit).")
                if member > info.file_size:
                    raise ServiceError(f"The zip member {info.filename!r} unpacks to more than the "
                                       f"{info.file_size} bytes it declares.")
                _check_ratio(f"The zip member {info.filename!r}", member, info.compress_size, max_ratio)
                out.write(chunk)
    _check_ratio("The zip", written, packed, max_ratio)
    return written


def register_dataset(user, *, team, name: str, path: str | None = None, upload=None,
                     description: str = "") -> Dataset:
    """Register a dataset from a storage folder or an uploaded zip, and verify it.

    Args:
        user: Who registers; a writer of ``team``.
        team: The team it belongs to.
        name: A slug, unique in the team.
        path: A folder relative to the storage root, inside the team's area ``datasets/<team slug>/`` or a
            shared folder (exclusive with ``upload``).
        upload: A zip file object (exclusive with ``path``).
        description: Free text.

    Returns:
        The stored dataset with its verification report.
    """
    access.require_write(user, team)
    throttles.check(user, "datasets")  # an upload and its verification are work: per-user rate (429)
    slug = slugify(name or "")[:100]
    if not slug:
        raise ServiceError("Give the dataset a name (letters, digits, '-').", errors=[{"field": "name", "message": "required"}])
    if bool(path) == bool(upload):
        raise ServiceError("Give either a path on the storage or a zip to upload, not both.")
    if Dataset.objects.filter(team=team, name=slug).exists():
        raise ServiceError(f"Team {team.name} already has a dataset named '{slug}'.",
                           errors=[{"field": "name", "message": "taken"}])
    if upload is None:
        path, folder = resolve_storage_path(path, team)
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
    rel = f"{team_area(team)}/{slug}"
    for area in shared_areas():  # shared folders are read-only, even one an operator put in a team's area
        if area == rel or PurePosixPath(area) in PurePosixPath(rel).parents:
            raise ServiceError(f"{rel} lies in the shared folder {area}/, which no upload may change; pick "
                               "another name.", errors=[{"field": "name", "message": "shared folder"}])
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
