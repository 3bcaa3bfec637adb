"""Render ``infra/ray/cluster.yaml`` for one commit: the file ``ray up`` is given (``make ray-cluster``).

The template names the commit as ``@@TRAINYARD_COMMIT@@``; the rendered file carries the full sha, so that a new
commit is a changed file and ``ray up`` runs the setup (a detached checkout of that commit) on every node again.

Usage: ``python infra/ray/render_cluster.py [--commit SHA] [--out var/ray/cluster.yaml]``; without ``--commit``,
the commit of HEAD (uncommitted changes are not on the nodes: a warning says so when the tree has some).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "ray" / "cluster.yaml"
PLACEHOLDER = "@@TRAINYARD_COMMIT@@"
SHA = re.compile(r"^[0-9a-f]{40}$")


class RenderError(ValueError):
    """The commit is not a full sha, or the template has no place for it."""


def render(template: str, commit: str) -> str:
    """The template with every ``@@TRAINYARD_COMMIT@@`` replaced by ``commit`` (40 hex digits).

    Raises:
        RenderError: ``commit`` is not a full lower-case sha (a branch or a short sha could move or be ambiguous
            on the nodes), or the template names no commit.
    """
    if not SHA.match(commit):
        raise RenderError(f"a commit is 40 lower-case hex digits (git rev-parse HEAD), not {commit!r}")
    if PLACEHOLDER not in template:
        raise RenderError(f"the template has no {PLACEHOLDER} to replace")
    return template.replace(PLACEHOLDER, commit)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render infra/ray/cluster.yaml for one commit (ray up's file).")
    parser.add_argument("--commit", help="the commit every node checks out (default: HEAD)")
    parser.add_argument("--out", default=str(ROOT / "var" / "ray" / "cluster.yaml"), help="where to write it")
    args = parser.parse_args(argv)
    head = _git("rev-parse", "HEAD")
    commit = args.commit or head
    if commit == head and _git("status", "--porcelain", "--untracked-files=no"):
        print(f"warning: uncommitted changes are not part of {commit[:12]}: the nodes will not have them",
              file=sys.stderr)
    try:
        text = render(TEMPLATE.read_text(), commit)
    except RenderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"{out}: the cluster at commit {commit}; next: ray up {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
