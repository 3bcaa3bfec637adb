"""Trainyard's shared storage: a folder every node mounts, or an object store, through ``pyarrow.fs``.

``TRAINYARD_STORAGE`` is either

- a path (local disk on one machine, NFS or another shared mount on a cluster): every node reads and
  writes it directly, and nothing is copied; or
- a URI ``pyarrow.fs.FileSystem.from_uri`` understands: ``s3://bucket/prefix``, ``gs://bucket/prefix``,
  ``hdfs://...``; options ride in the query, e.g. ``s3://runs/trainyard?endpoint_override=minio:9000&scheme=http``
  (credentials come from the nodes' environment: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
  an instance role, ...).

Everything on the storage is named by a *key*: a relative POSIX path such as ``runs/<id>/job.json``.
With an object store, a worker trains in a node-local *scratch* folder that mirrors the storage's layout
(``<scratch>/runs/<id>/work``); its checkpoints are pushed after each save and pulled back before a
resume (:func:`push_work_dir`, :func:`pull_work_dir`), and datasets are pulled once per node
(:meth:`Storage.pull_tree`). With a path, the scratch folder *is* the storage and these calls do nothing.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

# Files of a work dir that are checkpoints: the authority (rank 0) removes the storage's copies of those it
# rotated out (max_keep_ckpts); a pull removes the local ones the storage no longer has.
_CKPT_SUFFIXES = (".pth", ".pth.link")
_LINK = ".link"  # an object store has no symbolic links: ``latest.pth -> epoch_3.pth`` is stored as a small file


def redact(location: str | os.PathLike) -> str:
    """A path or URI for logs and messages: credentials in a URI (``s3://KEY:SECRET@bucket/...``) masked."""
    text = str(location)
    if not is_uri(text):
        return text
    netloc = urlsplit(text).netloc
    return text.replace(netloc, "***@" + netloc.rpartition("@")[2], 1) if "@" in netloc else text


def is_uri(location: str | os.PathLike | None) -> bool:
    """Whether ``location`` names an object store (``scheme://...``) rather than a path (``file://`` is a path)."""
    text = str(location or "")
    scheme = urlsplit(text).scheme if "://" in text else ""
    return bool(scheme) and scheme != "file"


def _local_path(location: str | os.PathLike) -> Path:
    text = str(location)
    if text.startswith("file://"):
        text = urlsplit(text).path
    return Path(text).expanduser().resolve()


@dataclass(frozen=True)
class Entry:
    """A file below a key: its path relative to that key, size and modification time (seconds)."""

    rel: str
    size: int
    mtime: float | None


class StorageError(OSError):
    """A storage location or key that cannot be used."""


class Storage:
    """One ``TRAINYARD_STORAGE`` location. Cheap to create; :func:`open_storage` caches them."""

    def __init__(self, location: str | os.PathLike, scratch: str | os.PathLike | None = None):
        self.location = str(location)
        self.is_local = not is_uri(location)
        if self.is_local:
            import pyarrow.fs as pafs

            self.fs = pafs.LocalFileSystem()
            self.root = _local_path(location).as_posix()
            self.scratch = Path(self.root)
            self._query = ""
        else:
            import pyarrow.fs as pafs

            try:
                self.fs, root = pafs.FileSystem.from_uri(self.location)
            except (ValueError, OSError) as exc:  # unknown scheme, bad option
                raise StorageError(f"TRAINYARD_STORAGE {redact(self.location)!r} is not a storage pyarrow can open: "
                                   f"{exc}") from exc
            self.root = root.rstrip("/")
            parts = urlsplit(self.location)
            self._scheme, self._netloc, self._query = parts.scheme, parts.netloc, parts.query
            self.scratch = Path(scratch or os.environ.get("TRAINYARD_SCRATCH") or default_scratch(self.location))

    def __repr__(self) -> str:
        return f"Storage({self.display!r})"

    @property
    def display(self) -> str:
        """The location for logs and messages: credentials in a URI (``s3://KEY:SECRET@bucket``) masked."""
        return redact(self.location)

    # --- names -----------------------------------------------------------------------------------

    @staticmethod
    def key(*parts: str | os.PathLike) -> str:
        """A safe key from parts: POSIX, relative, no ``..``; ``''`` is the root."""
        joined = PurePosixPath(*[str(p).replace("\\", "/") for p in parts if str(p)]) if parts else PurePosixPath()
        if joined.is_absolute() or ".." in joined.parts:
            raise StorageError(f"{joined.as_posix()!r} is not a key inside the storage")
        text = joined.as_posix()
        return "" if text == "." else text

    def fs_path(self, key: str = "") -> str:
        key = self.key(key)
        return f"{self.root}/{key}" if key else self.root

    def uri(self, key: str = "") -> str:
        """What a user (or ``load_from``) can name the object by: a path, or ``scheme://...?query``."""
        if self.is_local:
            return self.fs_path(key)
        path = self.fs_path(key)
        if self._scheme in ("s3", "gs", "gcs"):  # the bucket is the URI's host (after any credentials)
            userinfo = self._netloc.rpartition("@")[0]
            text = f"{self._scheme}://{userinfo + '@' if userinfo else ''}{path}"
        else:
            text = f"{self._scheme}://{self._netloc}/{path.lstrip('/')}"
        return f"{text}?{self._query}" if self._query else text

    def local(self, key: str = "") -> Path:
        """The node-local folder or file for ``key``: on the storage itself for a path, else in the scratch."""
        key = self.key(key)
        return self.scratch / key if key else self.scratch

    def relative(self, location: str | os.PathLike) -> str | None:
        """The key of a path or URI below this storage (or its scratch), else ``None``."""
        text = str(location)
        if is_uri(text):
            if self.is_local:
                return None
            text = urlsplit(text)._replace(query="").geturl()
            base = urlsplit(self.uri())._replace(query="").geturl().rstrip("/")
            return text[len(base):].strip("/") if text == base or text.startswith(base + "/") else None
        path = _local_path(text)
        for base in {Path(self.root), self.scratch} if self.is_local else {self.scratch}:
            if path == base:
                return ""
            if base in path.parents:
                return path.relative_to(base).as_posix()
        return None

    # --- files -----------------------------------------------------------------------------------

    def info(self, key: str):
        import pyarrow.fs as pafs

        info = self.fs.get_file_info(self.fs_path(key))
        return None if info.type == pafs.FileType.NotFound else info

    def is_file(self, key: str) -> bool:
        import pyarrow.fs as pafs

        info = self.info(key)
        return info is not None and info.type == pafs.FileType.File

    def is_dir(self, key: str) -> bool:
        import pyarrow.fs as pafs

        info = self.info(key)
        return info is not None and info.type == pafs.FileType.Directory

    def read_bytes(self, key: str) -> bytes:
        with self.fs.open_input_stream(self.fs_path(key)) as f:
            return f.read()

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write a whole object; on a path through a temporary file and a rename, so a reader never sees half."""
        if self.is_local:
            target = Path(self.fs_path(key))
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
            return
        with self.fs.open_output_stream(self.fs_path(key)) as f:  # an object appears whole when closed
            f.write(data)

    def write_text(self, key: str, text: str) -> None:
        self.write_bytes(key, text.encode("utf-8"))

    def open_read(self, key: str):
        """A binary file object for streaming ``key`` (a download): ``read(n)`` and ``close()``."""
        if self.is_local:
            return open(self.fs_path(key), "rb")  # noqa: SIM115 - the caller (a response) closes it
        return self.fs.open_input_file(self.fs_path(key))

    def remove(self, key: str) -> None:
        """Delete a file or a folder (recursively); a missing key is fine."""
        import pyarrow.fs as pafs

        info = self.info(key)
        if info is None:
            return
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.fs_path(key))
        else:
            self.fs.delete_file(self.fs_path(key))

    def walk(self, key: str = "") -> list[Entry]:
        """The files below ``key`` (recursively), relative to it; ``[]`` when it is missing."""
        import pyarrow.fs as pafs

        base = self.fs_path(key)
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        out = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            rel = info.path[len(base):].lstrip("/")
            out.append(Entry(rel, int(info.size or 0), _seconds(info.mtime)))
        return sorted(out, key=lambda e: e.rel)

    def upload(self, source: Path, key: str, *, stamp: bool = True) -> float | None:
        """Copy a local file to ``key``; with ``stamp`` the local file's mtime becomes the stored one (so
        :meth:`push_tree` can tell it is unchanged); returns that mtime."""
        with open(source, "rb") as src, self.fs.open_output_stream(self.fs_path(key)) as out:
            shutil.copyfileobj(src, out, 1 << 22)
        if not stamp:
            return None
        stored = _seconds(self.fs.get_file_info(self.fs_path(key)).mtime)
        if stored is not None:
            with contextlib.suppress(OSError):
                os.utime(source, (stored, stored))
        return stored

    def download(self, key: str, target: Path, mtime: float | None = None) -> None:
        """Copy ``key`` to a local file, whole or not at all (a temporary file renamed into place)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, self.fs.open_input_stream(self.fs_path(key)) as src:
                while chunk := src.read(1 << 22):
                    out.write(chunk)
            if mtime is not None:
                os.utime(tmp, (mtime, mtime))
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # --- folders ---------------------------------------------------------------------------------

    def push_tree(self, folder: Path, key: str, *, prune: Callable[[str], bool] | None = None) -> list[str]:
        """Upload the files of a local folder to ``key`` that the storage lacks or holds in another version.

        A symbolic link is stored as ``<name>.link`` holding its target. ``prune(rel)``: remove stored files
        under ``key`` that the folder no longer has and for which it says yes. Returns the uploaded paths.
        """
        if self.is_local and Path(self.fs_path(key)) == Path(folder).resolve():
            return []
        stored = {e.rel: e for e in self.walk(key)}
        local = _local_files(Path(folder))
        sent = []
        for rel, path in local.items():
            if path.is_symlink():
                name = f"{rel}{_LINK}"
                target = os.readlink(path)
                if name not in stored or stored[name].size != len(target.encode()):
                    self.write_text(self.key(key, name), target)
                elif self.read_text(self.key(key, name)) != target:
                    self.write_text(self.key(key, name), target)
                continue
            st = path.stat()
            have = stored.get(rel)
            if have is None or have.size != st.st_size or have.mtime is None or abs(have.mtime - st.st_mtime) > 1e-3:
                sent.append(rel)
        _parallel(lambda rel: self.upload(local[rel], self.key(key, rel), stamp=len(sent) == 1), sent)
        if len(sent) > 1:  # one listing for the stored times, not a request per file
            after = {e.rel: e.mtime for e in self.walk(key)}
            for rel in sent:
                if after.get(rel) is not None:
                    with contextlib.suppress(OSError):
                        os.utime(local[rel], (after[rel], after[rel]))
        if prune is not None:
            keep = set(local) | {f"{rel}{_LINK}" for rel, p in local.items() if p.is_symlink()}
            for rel in stored:
                if rel not in keep and prune(rel):
                    self.remove(self.key(key, rel))
        return sent

    def pull_tree(self, key: str, folder: Path | None = None, *, prune: Callable[[str], bool] | None = None) -> list[str]:
        """Download the files under ``key`` that the local folder (default: its scratch place) lacks or holds
        in another version; ``<name>.link`` files become symbolic links. ``prune(rel)``: remove local files
        the storage does not hold, for which it says yes. Returns the downloaded paths."""
        folder = Path(folder) if folder is not None else self.local(key)
        if self.is_local and Path(self.fs_path(key)) == folder.resolve():
            return []
        stored = self.walk(key)
        got: list[Entry] = []
        for entry in stored:
            target = folder / entry.rel
            if entry.rel.endswith(_LINK):
                link = folder / entry.rel[: -len(_LINK)]
                wanted = self.read_text(self.key(key, entry.rel))
                if not (link.is_symlink() and os.readlink(link) == wanted):
                    link.parent.mkdir(parents=True, exist_ok=True)
                    tmp = link.with_name(f".{link.name}.{os.getpid()}.lnk")
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                    tmp.symlink_to(wanted)
                    os.replace(tmp, link)
                continue
            if target.is_file() and not target.is_symlink():
                st = target.stat()
                if st.st_size == entry.size and (entry.mtime is None or abs(st.st_mtime - entry.mtime) <= 1e-3):
                    continue
            got.append(entry)
        _parallel(lambda e: self.download(self.key(key, e.rel), folder / e.rel, e.mtime), got)
        if prune is not None and folder.is_dir():
            names = {e.rel for e in stored} | {e.rel[: -len(_LINK)] for e in stored if e.rel.endswith(_LINK)}
            for rel, path in _local_files(folder).items():
                if rel not in names and prune(rel):
                    path.unlink(missing_ok=True)
        return [e.rel for e in got]

    # --- Ray ---------------------------------------------------------------------------------------

    def ray_storage(self, key: str) -> tuple[str, object | None]:
        """``(storage_path, storage_filesystem)`` for a Ray ``RunConfig`` keeping its results under ``key``."""
        if self.is_local:
            return self.fs_path(key), None
        return self.fs_path(key), self.fs


# Transfers at once: an object store answers each request in milliseconds, a dataset is thousands of files.
TRANSFER_THREADS = 16


def _parallel(work: Callable, items: list) -> None:
    """``work(item)`` for each item, ``TRANSFER_THREADS`` at a time (pyarrow releases the GIL); the first
    error is raised once the others are done."""
    if len(items) <= 1:
        for item in items:
            work(item)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(TRANSFER_THREADS, len(items))) as pool:
        for future in [pool.submit(work, item) for item in items]:
            future.result()


def _seconds(mtime) -> float | None:
    return mtime.timestamp() if mtime is not None else None


def _local_files(folder: Path) -> dict[str, Path]:
    """Files and symbolic links below a folder (not following links), by POSIX path relative to it; temporary
    files of an atomic write (``.name.*``) are left out."""
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        for name in filenames + [d for d in dirnames if (base / d).is_symlink()]:
            if name.startswith("."):
                continue
            path = base / name
            out[path.relative_to(folder).as_posix()] = path
    return out


def default_scratch(location: str) -> Path:
    """A node-local folder for one object-store location (``TRAINYARD_SCRATCH`` overrides it)."""
    digest = hashlib.sha1(location.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "trainyard-scratch" / digest


_OPEN: dict[tuple[str, str], Storage] = {}


def open_storage(location: str | os.PathLike | None = None) -> Storage:
    """The storage at ``location`` (default: ``$TRAINYARD_STORAGE``), created once per process."""
    location = str(location if location is not None else os.environ.get("TRAINYARD_STORAGE") or "")
    if not location:
        raise StorageError("TRAINYARD_STORAGE is not set")
    cache_key = (location, os.environ.get("TRAINYARD_SCRATCH", ""))
    if cache_key not in _OPEN:
        _OPEN[cache_key] = Storage(location)
    return _OPEN[cache_key]


# --- a run's work dir ----------------------------------------------------------------------------


def is_checkpoint_file(rel: str) -> bool:
    """A checkpoint of a work dir (``epoch_3.pth``, ``best_accuracy_top-1_epoch_2.pth``, ``latest.pth`` as a
    link) or a file of DeepSpeed's checkpoint folders (``deepspeed/<tag>/...``)."""
    parts = rel.split("/")
    if parts[0] == "deepspeed":
        return True
    return len(parts) == 1 and rel.endswith(_CKPT_SUFFIXES)


def push_work_dir(storage: Storage, folder: Path, key: str, *, authority: bool) -> list[str]:
    """Upload a work dir's new files (checkpoints, logs) to ``key``. The ``authority`` (rank 0) also removes
    the stored checkpoints it has rotated out; another node only adds (its DeepSpeed partitions)."""
    if storage.is_local:
        return []
    if not authority:
        return storage.push_tree(folder, key)

    def rotated(rel: str) -> bool:
        parts = rel.split("/")
        if parts[0] == "deepspeed":  # a tag folder goes when rank 0's is gone (other nodes hold other partitions)
            return len(parts) >= 3 and not (Path(folder) / "deepspeed" / parts[1]).is_dir()
        return is_checkpoint_file(rel)

    return storage.push_tree(folder, key, prune=rotated)


def pull_work_dir(storage: Storage, folder: Path, key: str) -> list[str]:
    """Make a node's work dir hold the stored checkpoints (and no others) before the engine's auto-resume
    looks there: a restarted worker on a fresh node, or a PBT trial that adopted another trial's checkpoint."""
    if storage.is_local:
        return []
    return storage.pull_tree(key, folder, prune=is_checkpoint_file)


@contextlib.contextmanager
def fetched(location: str) -> Iterator[str]:
    """A local path for a file named by a path or an object-store URI (``load_from='s3://...'``): the path
    itself, or a temporary download removed afterwards."""
    if not is_uri(location) or urlsplit(location).scheme in ("http", "https"):
        yield location
        return
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(location)
    suffix = PurePosixPath(path).suffix
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="trainyard-fetch-")
    try:
        with os.fdopen(fd, "wb") as out, fs.open_input_stream(path) as src:
            shutil.copyfileobj(src, out, 1 << 22)
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


__all__ = ["Storage", "StorageError", "Entry", "open_storage", "is_uri", "redact", "push_work_dir", "pull_work_dir",
           "is_checkpoint_file", "default_scratch", "fetched"]
