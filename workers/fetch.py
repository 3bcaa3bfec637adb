"""What a spec may make a worker download: the engine's network policy (DESIGN.md, "The trust boundary").

A spec names checkpoints by URL (``init_cfg=dict(type='Pretrained', checkpoint='https://...')``,
``load_from``), and a spec is written by someone who may be attacking the other teams: a URL could point
at an internal service, the cloud's metadata endpoint (``169.254.169.254``) or a file that poisons a cache
other runs load from. The service refuses such a URL at submit (``jobspecs.paths.url_problem`` against
``TRAINYARD_CHECKPOINT_URL_HOSTS``); this module applies the same rule again in the worker, defence in
depth, and does the fetching itself:

- every hop of a redirect is checked against the allowlist again (``requests`` follows none on its own);
- the file lands in the run's own cache folder, never in torch.hub's shared ``~/.cache/torch/hub``;
- it is written whole or not at all (a temporary file renamed into place), at most :data:`MAX_BYTES`;
- the SHA-256 prefix that MMClassification's file names carry (torch.hub's convention,
  ``resnet50_8xb32_in1k_20210831-ea4938fc.pth``) must match, else the file is removed.

The service's entrypoints call :func:`configure` before training (``workers.distributed.launch``). Not
configured, as the ``trainyard`` command on a user's own machine is, any URL is fetched as torch.hub does.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

from jobspecs.paths import url_problem

logger = logging.getLogger(__name__)

__all__ = ["ChecksumError", "FetchError", "MAX_BYTES", "NetworkPolicyError", "Policy", "check_url", "configure",
           "fetch_checkpoint", "is_url", "policy", "reset"]

# The largest file a spec's URL may bring: a hostile server must not fill a node's disk. ViT-L/16's
# ImageNet-21k checkpoint, the largest of the seed's model zoo, is about 1.2 GB.
MAX_BYTES = 2 * 1024**3
MAX_REDIRECTS = 5
# (connect, read) seconds: ``read`` bounds each wait for the next bytes; DEADLINE_SECONDS the whole download,
# so a server dripping one byte a minute cannot hold a worker for ever.
TIMEOUT = (10, 60)
DEADLINE_SECONDS = 3600
CHUNK = 1 << 20
# torch.hub's file-name convention (``HASH_REGEX``): ``name-<hex>.ext``, the hex a prefix of the file's
# SHA-256; at least 8 digits, so that an ordinary ``-1.pth`` is no hash.
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})(?:\.[A-Za-z0-9]+)+$")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class FetchError(RuntimeError):
    """A checkpoint URL that could not be fetched."""


class NetworkPolicyError(FetchError):
    """A URL (or a hop of its redirects, or an object-store URI) the operator's policy refuses."""


class ChecksumError(FetchError):
    """A download whose SHA-256 does not start with the hash its file name carries."""


@dataclass(frozen=True)
class Policy:
    """The process's network policy, as :func:`configure` set it."""

    allowed_hosts: tuple[str, ...]
    cache_dir: Path
    own_storage: str | None


_POLICY: Policy | None = None


def configure(*, allowed_hosts: Sequence[str] | None, cache_dir: Path | None, own_storage: str | None) -> None:
    """Put this process under the service's network policy (call it before building a model).

    Args:
        allowed_hosts: The operator's allowlist (``TRAINYARD_CHECKPOINT_URL_HOSTS``: ``host``, ``host:port``,
            ``*.example.com``). ``None`` or empty: no URL at all, as for a job file that does not say.
        cache_dir: Where fetched files go: the run's own folder (e.g. ``<run dir>/url-cache``), never a
            cache other runs read. ``None``: a fresh private temporary folder.
        own_storage: The service's ``TRAINYARD_STORAGE``; an object-store URI a spec names (``load_from``) must
            lie inside it. ``None`` or a path: no object-store URI at all.
    """
    global _POLICY
    hosts = tuple(h.strip() for h in (allowed_hosts or ()) if h and h.strip())
    folder = Path(cache_dir) if cache_dir is not None else Path(tempfile.mkdtemp(prefix="trainyard-urls-"))
    _POLICY = Policy(allowed_hosts=hosts, cache_dir=folder, own_storage=str(own_storage) if own_storage else None)


def reset() -> None:
    """Back to no policy (as on a user's own machine): every URL is fetched as torch.hub does."""
    global _POLICY
    _POLICY = None


def policy() -> Policy | None:
    """The policy :func:`configure` set in this process, or ``None`` when there is none."""
    return _POLICY


def is_url(location: object) -> bool:
    """Whether ``location`` is an ``http(s)://`` URL (any case)."""
    return isinstance(location, str) and location.strip().lower().startswith(("http://", "https://"))


def check_url(url: str, current: Policy | None = None) -> None:
    """Refuse ``url`` unless the policy (default: this process's) allows it; no policy allows every URL.

    Raises:
        NetworkPolicyError: naming the rule and the setting that decides it.
    """
    current = current if current is not None else _POLICY
    if current is None:
        return
    problem = url_problem(url, current.allowed_hosts)
    if problem is not None:
        raise NetworkPolicyError(f"refused to fetch {problem}")


def fetch_checkpoint(url: str) -> Path:
    """A local file holding the checkpoint at ``url``, downloaded unless already there.

    Under a policy (:func:`configure`): the URL and each redirect must be allowed, the file goes to the
    policy's cache folder, at most :data:`MAX_BYTES`, and the hash in its name must match. Without one:
    torch.hub's way (its cache, no checks), as the ``trainyard`` command always did.

    Args:
        url: An ``http(s)://`` URL.

    Returns:
        The path of the downloaded file.

    Raises:
        NetworkPolicyError: the URL, a redirect or the size is refused.
        ChecksumError: the file's SHA-256 does not start with the hash its name carries (nothing is kept).
        FetchError: the server answered with an error or a download failed.
    """
    current = _POLICY
    if current is None:
        return _fetch_like_torch_hub(url)
    check_url(url, current)
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    target = current.cache_dir / digest / _file_name(url)
    with _locked(current.cache_dir / f".{digest}.lock"):  # the ranks of one node fetch once
        if not target.is_file():
            _download(url, target, current)
    return target


def _fetch_like_torch_hub(url: str) -> Path:
    """``torch.hub.load_state_dict_from_url``'s download: ``<hub dir>/checkpoints/<file name>``, reused."""
    import torch.hub

    folder = Path(torch.hub.get_dir()) / "checkpoints"
    cached = folder / os.path.basename(urlsplit(url).path)
    if not cached.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(cached), None, progress=False)
    return cached


def _url_name(url: str) -> str:
    """The URL's last path segment, decoded (``.../resnet50_8xb32_in1k_20210831-ea4938fc.pth``)."""
    return PurePosixPath(unquote(urlsplit(url).path)).name


def _file_name(url: str) -> str:
    """The cached file's name: the URL's when it is a plain file name, else ``checkpoint.pth``."""
    name = _url_name(url)
    return name if _SAFE_NAME.fullmatch(name) else "checkpoint.pth"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _download(url: str, target: Path, current: Policy) -> None:
    """Follow redirects by hand, checking each hop's host, then stream the body to ``target``."""
    import requests

    with requests.Session() as session:
        # No ~/.netrc credentials for a host a spec chose; the environment's proxies and CA bundle still apply.
        session.trust_env = False
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        hop = url
        for _ in range(MAX_REDIRECTS + 1):
            check_url(hop, current)
            try:
                response = session.get(hop, stream=True, timeout=TIMEOUT, allow_redirects=False,
                                       proxies=requests.utils.get_environ_proxies(hop))
            except requests.RequestException as exc:
                raise FetchError(f"could not fetch {hop!r}: {exc}") from exc
            with response:
                if response.is_redirect:
                    hop = urljoin(hop, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise FetchError(f"could not fetch {hop!r}: HTTP {response.status_code} {response.reason}")
                _write(response, url, target)
                return
    raise NetworkPolicyError(f"refused to fetch {url!r}: more than {MAX_REDIRECTS} redirects")


def _write(response, url: str, target: Path) -> None:
    """The response body into ``target``: size-capped, hash-checked, whole or not at all."""
    import requests

    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BYTES:
        raise NetworkPolicyError(f"refused to fetch {url!r}: its {int(length)} bytes are more than the {MAX_BYTES} "
                                 "bytes a checkpoint may have (workers.fetch.MAX_BYTES)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    sha256, size, deadline = hashlib.sha256(), 0, time.monotonic() + DEADLINE_SECONDS
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > MAX_BYTES:  # a server may send more than its Content-Length said, or none
                    raise NetworkPolicyError(f"refused to fetch {url!r}: more than the {MAX_BYTES} bytes a "
                                             "checkpoint may have (workers.fetch.MAX_BYTES)")
                if time.monotonic() > deadline:
                    raise FetchError(f"could not fetch {url!r}: not done after {DEADLINE_SECONDS} s")
                sha256.update(chunk)
                out.write(chunk)
        _check_hash(url, sha256.hexdigest())
        os.replace(tmp, target)
    except requests.RequestException as exc:
        raise FetchError(f"could not fetch {url!r}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _check_hash(url: str, digest: str) -> None:
    """torch.hub's ``check_hash``: the hex after the name's last ``-`` must begin the file's SHA-256.

    A name without one is fetched all the same (most URLs outside MMClassification's zoo carry none) and its
    SHA-256 is logged, so the run's log records what was loaded.
    """
    found = HASH_IN_NAME.search(_url_name(url))
    if found is None:
        logger.warning("%s carries no SHA-256 prefix in its name (name-<hex>.pth) to check; its SHA-256 is %s",
                       url, digest)
        return
    if not digest.startswith(found.group(1)):
        raise ChecksumError(f"refused {url!r}: its name says SHA-256 {found.group(1)}..., the file's is {digest}; "
                            "the download was removed")
