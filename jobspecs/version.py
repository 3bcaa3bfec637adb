"""The code version of this installation: the commit the service and every Ray node must share.

A job file carries the version of the service that wrote it (``Job.code_version``); the job's driver and each of
its train workers compare it with their own (``workers.distributed.launch.check_code_version``) and refuse to
run another version's job, since a node left on an older commit would train with other code than the service
validated the spec against (the README's "Scaling out", ``infra/ray/cluster.yaml``).

The version is, in this order:

- ``TRAINYARD_COMMIT``: set by the image (``infra/docker/Dockerfile``, the commit it was built from), or by an
  operator who installs the project without its git metadata;
- the commit checked out in the source tree this module was imported from (``.git/HEAD``, read as files: no
  ``git`` process, no ``safe.directory`` refusal when the service's user does not own the checkout). This is
  what ``make up`` and the ``ray up`` nodes (a detached checkout of one commit) have;
- ``""`` when neither is known.

Uncommitted changes are not part of the version: two trees at one commit pass the check whatever their edits.
Read afresh on each call (a few small files): a tree whose HEAD moves under a running embedded stack (a commit
during ``make up``) gives its service and its new jobs the same answer.
"""
from __future__ import annotations

import os
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]
_HEX = frozenset("0123456789abcdef")


def _is_sha(text: str) -> bool:
    """A full commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits."""
    return len(text) in (40, 64) and set(text) <= _HEX


def code_version() -> str:
    """This installation's commit (40 hex digits, lower case), or ``""`` where it cannot tell."""
    given = os.environ.get("TRAINYARD_COMMIT", "").strip().lower()
    if given:
        return given
    return git_head(SOURCE_ROOT)


def git_head(root: Path) -> str:
    """The commit checked out in the git work tree at ``root`` (a branch's tip, or a detached HEAD), read from
    the repository's files; ``""`` when ``root`` holds no readable git metadata."""
    git = root / ".git"
    try:
        if git.is_file():  # a linked work tree or submodule: "gitdir: <path>"
            text = git.read_text().strip()
            if not text.startswith("gitdir:"):
                return ""
            git = (root / text.removeprefix("gitdir:").strip()).resolve()
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return ""
    if _is_sha(head):
        return head
    if not head.startswith("ref:"):
        return ""
    ref = head.removeprefix("ref:").strip()
    common = git
    try:  # a linked work tree keeps its branches in the main repository
        common = (git / (git / "commondir").read_text().strip()).resolve()
    except OSError:
        pass
    for folder in dict.fromkeys((git, common)):
        try:
            sha = (folder / ref).read_text().strip()
        except OSError:
            continue
        if _is_sha(sha):
            return sha
    for folder in dict.fromkeys((git, common)):
        try:
            packed = (folder / "packed-refs").read_text().splitlines()
        except OSError:
            continue
        for line in packed:
            sha, _, name = line.partition(" ")
            if name.strip() == ref and _is_sha(sha):
                return sha
    return ""
