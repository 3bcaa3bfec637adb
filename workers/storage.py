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
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, urlsplit

# Files of a work dir that are checkpoints: the authority (rank 0) removes the storage's copies of those it
# rotated out (max_keep_ckpts); a pull removes the local ones the storage no longer has.
_CKPT_SUFFIXES = (".pth", ".pth.link")
_LINK = ".link"  # an object store has no symbolic links: ``latest.pth -> epoch_3.pth`` is stored as a small file
# A stored link's text is a file name: anything longer is not one of ours.
_LINK_MAX_BYTES = 255

log = logging.getLogger(__name__)


def redact(location: str | os.PathLike) -> str:
    """A path or URI for logs and messages: credentials in a URI (``s3://KEY:SECRET@bucket/...``) masked."""
    text = str(location)
    if not is_uri(text):
        return text
    netloc = urlsplit(text).netloc
    return text.replace(netloc, "***@" + netloc.rpartition("@")[2], 1) if "@" in netloc else text


def strip_credentials(location: str | os.PathLike) -> str:
    """A path or URI without the credentials a URI may carry (``s3://KEY:SECRET@bucket/...`` becomes
    ``s3://bucket/...``): what a Ray job gets, which opens the store with its node's own credentials."""
    text = str(location)
    if not is_uri(text):
        return text
    parts = urlsplit(text)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl() if "@" in parts.netloc else text


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

        A symbolic link to a file beside it (``latest.pth -> epoch_3.pth``) is stored as ``<name>.link`` holding
        the target's name; any other link is left out (with a warning). ``prune(rel)``: remove stored files
        under ``key`` that the folder no longer has and for which it says yes. Returns the uploaded paths.
        """
        if self.is_local and Path(self.fs_path(key)) == Path(folder).resolve():
            return []
        stored = {e.rel: e for e in self.walk(key)}
        local = _local_files(Path(folder))
        sent, links = [], set()
        for rel, path in local.items():
            if path.is_symlink():
                target = os.readlink(path)
                if not _is_sibling_file(path, target):
                    log.warning("not storing the link %s -> %s: only a link to a file beside it (latest.pth -> "
                                "epoch_3.pth) is kept", rel, target)
                    continue
                links.add(rel)
                name = f"{rel}{_LINK}"
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
            keep = set(local) | {f"{rel}{_LINK}" for rel in links}
            for rel in stored:
                if rel not in keep and prune(rel):
                    self.remove(self.key(key, rel))
        return sent

    def pull_tree(self, key: str, folder: Path | None = None, *, prune: Callable[[str], bool] | None = None,
                  links: bool = False) -> list[str]:
        """Download the files under ``key`` that the local folder (default: its scratch place) lacks or holds
        in another version. ``prune(rel)``: remove local files the storage does not hold, for which it says
        yes. Returns the downloaded paths.

        Nothing is written outside the folder, nor through a symbolic link in it: a link found where the
        storage has a folder (or a file) is removed first, never followed. With ``links`` (a run's work dir),
        a ``<name>.link`` becomes a symbolic link only when its target is the name of a file stored beside it
        (``latest.pth -> epoch_3.pth``); without (a dataset), no link is made, and one an older pull left at
        such a name is removed. Any other ``.link``, and any key that is not a path inside ``key``, is skipped
        with a warning.
        """
        folder = Path(folder) if folder is not None else self.local(key)
        if self.is_local and Path(self.fs_path(key)) == folder.resolve():
            return []
        stored = [e for e in self.walk(key) if _is_inside_name(e.rel, key)]
        files = {e.rel for e in stored if not e.rel.endswith(_LINK)}
        base = self.scratch if self.scratch == folder or self.scratch in folder.parents else folder
        checked: set[Path] = set()
        got: list[Entry] = []
        made: set[str] = set()
        for entry in stored:
            target = folder / entry.rel
            if entry.rel.endswith(_LINK):
                name = entry.rel[: -len(_LINK)]
                link = folder / name
                _unlink_linked_folders(base, link, checked)
                if not links:
                    if link.is_symlink():
                        link.unlink()
                    continue
                wanted = self.read_text(self.key(key, entry.rel)) if entry.size <= _LINK_MAX_BYTES else ""
                sibling = None
                if _is_file_name(wanted) and _is_file_name(PurePosixPath(name).name) and not name.endswith("/"):
                    sibling = PurePosixPath(name).with_name(wanted).as_posix()
                if sibling not in files:
                    log.warning("not making the link %s under %s: its target %r is not a file stored beside it",
                                name, key, wanted[:80])
                    continue
                made.add(name)
                if not (link.is_symlink() and os.readlink(link) == wanted):
                    link.parent.mkdir(parents=True, exist_ok=True)
                    tmp = link.with_name(f".{link.name}.{os.getpid()}.lnk")
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                    tmp.symlink_to(wanted)
                    os.replace(tmp, link)
                continue
            _unlink_linked_folders(base, target, checked)
            if target.is_file() and not target.is_symlink():
                st = target.stat()
                if st.st_size == entry.size and (entry.mtime is None or abs(st.st_mtime - entry.mtime) <= 1e-3):
                    continue
            got.append(entry)
        # download() renames a whole file into place: a link at the file's own name is replaced, not written through
        _parallel(lambda e: self.download(self.key(key, e.rel), folder / e.rel, e.mtime), got)
        if prune is not None and folder.is_dir():
            names = files | made
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


def _is_file_name(text: str) -> bool:
    """A bare file name: no folder, not ``.``/``..``, not itself a stored link's name."""
    return (bool(text) and "/" not in text and "\\" not in text and "\x00" not in text and text not in (".", "..")
            and not text.endswith(_LINK))


def _is_sibling_file(link: Path, target: str) -> bool:
    """Whether a local link points at a regular file beside it, by its bare name (what the engine makes)."""
    sibling = link.parent / target
    return _is_file_name(target) and sibling.is_file() and not sibling.is_symlink()


def _is_inside_name(rel: str, key: str) -> bool:
    """Whether a listed name stays inside the folder it is listed under (an object store takes any key,
    ``../../x`` too); one that does not is skipped with a warning."""
    parts = PurePosixPath(rel).parts
    if rel and "\x00" not in rel and not rel.startswith("/") and ".." not in parts and parts:
        return True
    log.warning("skipping the stored name %r under %s: not a path inside it", rel[:200], key)
    return False


def _unlink_linked_folders(base: Path, path: Path, checked: set[Path]) -> None:
    """Remove every symbolic link among the folders between ``base`` and ``path`` (a pull's folder is the
    storage's mirror: a link there is not the storage's, and writing through it would leave the scratch)."""
    try:
        between = path.parent.relative_to(base).parts
    except ValueError:
        return
    current = base
    for part in between:
        current = current / part
        if current in checked:
            continue
        if current.is_symlink():
            log.warning("removing the symbolic link %s in the scratch folder (-> %s): a pull never writes "
                        "through one", current, os.readlink(current))
            current.unlink()
        checked.add(current)


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
    return storage.pull_tree(key, folder, prune=is_checkpoint_file, links=True)  # latest.pth


@contextlib.contextmanager
def fetched(location: str) -> Iterator[str]:
    """A local path for a checkpoint a spec names (``load_from``): a path stays itself; an http(s) URL is
    downloaded by :func:`workers.fetch.fetch_checkpoint`; an object-store URI (``s3://...``) is copied to a
    temporary file removed afterwards.

    Under the service's network policy (:func:`workers.fetch.configure`) the URL must be on the operator's
    allowlist, and the URI must lie inside the service's own storage: it is then read through that storage,
    never through a filesystem the URI's own options (``endpoint_override``, ``scheme``, credentials) open.

    Args:
        location: A path, an ``http(s)://`` URL or an object-store URI.

    Raises:
        workers.fetch.NetworkPolicyError: a URL or URI the policy refuses (nothing is contacted).
    """
    from workers import fetch

    location = str(location)
    if fetch.is_url(location):
        yield str(fetch.fetch_checkpoint(location.strip()))
        return
    if not is_uri(location):
        yield location
        return
    current = fetch.policy()
    own = _inside_own_storage(location, current.own_storage) if current is not None else None
    import pyarrow.fs as pafs

    if own is None:
        fs, path = pafs.FileSystem.from_uri(location)
    else:
        path = own[0].fs_path(own[1])
    fd, tmp = tempfile.mkstemp(suffix=PurePosixPath(path).suffix, prefix="trainyard-fetch-")
    os.close(fd)
    try:
        if own is None:
            with open(tmp, "wb") as out, fs.open_input_stream(path) as src:
                shutil.copyfileobj(src, out, 1 << 22)
        else:
            own[0].download(own[1], Path(tmp))
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _inside_own_storage(location: str, own_storage: str | None) -> tuple[Storage, str]:
    """The service's storage and the key of an object-store URI a spec names, or a refusal.

    A URI outside the service's storage, or with options of its own, would send a worker (holding the nodes'
    cloud credentials) to a server or bucket the spec chose: an internal service, the cloud's metadata
    endpoint. Only the storage's own options (as :meth:`Storage.uri` writes them) may ride along.
    """
    from workers.fetch import NetworkPolicyError

    base_text, _, query = redact(location).partition("?")
    shown = f"{base_text}?..." if query else base_text  # the query may hold secrets (pyarrow's secret_key=)
    if not own_storage or not is_uri(own_storage):
        raise NetworkPolicyError(f"refused to read {shown!r}: this service reads no object-store URI a spec "
                                 "names; name another run's checkpoint by its id instead")
    storage = open_storage(own_storage)
    options = sorted(parse_qsl(urlsplit(location).query, keep_blank_values=True))
    if options and options != sorted(parse_qsl(storage._query, keep_blank_values=True)):
        raise NetworkPolicyError(f"refused to read {shown!r}: a URI a spec names may not carry options of its own "
                                 f"({', '.join(sorted({k for k, _ in options}))}); drop them to read the service's "
                                 "own storage")
    key = storage.relative(location)
    try:
        if not key or not storage.key(key):
            raise StorageError(key)
    except StorageError:
        raise NetworkPolicyError(f"refused to read {shown!r}: it is not a file inside the service's own "
                                 "storage") from None
    return storage, key


__all__ = ["Storage", "StorageError", "Entry", "open_storage", "is_uri", "redact", "strip_credentials",
           "push_work_dir", "pull_work_dir", "is_checkpoint_file", "default_scratch", "fetched"]
