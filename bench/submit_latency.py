"""p95 of ``POST /api/runs`` with the trust boundary's checks (issue 13) against the code before them, same run.

Both sides run in subprocesses on PostgreSQL (the test settings, a database of their own), each from its own
tree: the baseline revision checked out in a git worktree, and this checkout. They alternate round by round,
so a busy machine weighs on both. Each request goes through the whole Django stack (``APIClient``): token
authentication, the serializer, the spec loader, the schema, the registries, and (after) the path policy,
the checkpoint references, the throttle and the team's quota. After each timed request its run is marked
succeeded (untimed), so a team's queue never fills up.

    .venv/bin/python bench/submit_latency.py                   # 3 rounds of 150 submits per side
    .venv/bin/python bench/submit_latency.py --baseline HEAD~5 --rounds 5 --n 300

Prints each round's p50/p95 per side and the ratio of the medians of the p95s (after / before).

Measured on this machine (2 cores, PostgreSQL 15, 5 rounds of 150, baseline 0728959):

| after | library spec p95 | pasted spec p95 |
| --- | --- | --- |
| 16c59a9 (the checks alone) | 41.3 → 47.3 ms (1.15) | 25.0 → 30.2 ms (1.21) |
| + library listing cached, path fields indexed | 42.9 → 28.6 ms (0.67) | 19.9 → 21.5 ms (1.08) |

The checks cost ~3 ms (the team's row locked and its queue counted, ~1 ms of path policy, the throttle); listing
the spec library on every submit (~18 ms, since the first version) is now read once per process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The last commit before issue 13's work: the submit path without the trust boundary's checks.
DEFAULT_BASELINE = "0728959"

WORKER = r'''
import json, os, sys, time
os.environ["DJANGO_SETTINGS_MODULE"] = "backend.project.settings_test"
import django
django.setup()
from django.test.utils import setup_databases, teardown_databases
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
import backend
assert os.path.realpath(backend.__file__).startswith(os.path.realpath(os.getcwd())), backend.__file__
from backend.accounts.models import ApiToken, Membership, Team
from backend.experiments.models import Dataset, Run

n, variant = int(sys.argv[1]), sys.argv[2]
old = setup_databases(verbosity=0, interactive=False)
try:
    team = Team.objects.create(name="Bench", slug="bench")
    user = get_user_model().objects.create_user("bench")
    Membership.objects.create(user=user, team=team, role="owner")
    Dataset.objects.create(team=team, name="digits", path="datasets/bench/digits")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + ApiToken.issue(user, "b")[1])
    if variant == "library":
        body = {"spec_name": "demo/resnet18-tiny_2xb32-6e_digits.py", "dataset": "digits",
                "cfg_options": {"runner.max_epochs": 3, "optimizer.lr": 0.05}}
    else:
        body = {"dataset": "digits", "spec_text": (
            "_base_ = ['../demo/resnet18-tiny_2xb32-6e_digits.py']\n"
            "data = dict(samples_per_gpu=16, train=dict(data_prefix='data/digits/train'),\n"
            "            val=dict(data_prefix='data/digits/val'))\n"
            "checkpoint_config = dict(interval=1, max_keep_ckpts=2)\n")}
    times = []
    for i in range(n + 10):
        t = time.perf_counter()
        r = client.post("/api/runs", body, format="json")
        elapsed = time.perf_counter() - t
        assert r.status_code == 201, r.content[:500]
        Run.objects.filter(pk=r.json()["id"]).update(status="succeeded")
        if i >= 10:  # the first ones warm the caches (spec files, registries)
            times.append(elapsed * 1000)
    times.sort()
    print(json.dumps({"p50": times[len(times) // 2], "p95": times[int(len(times) * 0.95) - 1],
                      "mean": sum(times) / len(times)}))
finally:
    teardown_databases(old, verbosity=0)
'''


def worktree(rev: str) -> Path:
    """A checkout of ``rev`` beside the temp dir (made once, reused by later runs)."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"trainyard-bench-{sha}"
    if not (path / "manage.py").exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=ROOT, check=True,
                       capture_output=True)
    return path


def measure(tree: Path, n: int, variant: str, var: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "TRAINYARD_VAR": str(var),
           "TRAINYARD_TEAM_MAX_QUEUED_RUNS": "1000000", "TRAINYARD_TEAM_MAX_RUNNING_RUNS": "1000000",
           "TRAINYARD_STORAGE": str(var / "storage")}
    out = subprocess.run([sys.executable, "-c", WORKER, str(n), variant], cwd=tree, env=env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the {tree} side failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="revision before the checks (a git rev)")
    parser.add_argument("--n", type=int, default=150, help="timed submits per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", choices=["library", "pasted"], default="library",
                        help="a library spec with cfg_options, or a pasted spec inheriting one")
    args = parser.parse_args()
    before_tree = worktree(args.baseline)
    p95 = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for side, tree in (("before", before_tree), ("after", ROOT)):
                result = measure(tree, args.n, args.variant, Path(tmp) / f"{side}{round_}")
                p95[side].append(result["p95"])
                print(f"round {round_ + 1} {side:6s}: p50 {result['p50']:6.1f} ms  p95 {result['p95']:6.1f} ms  "
                      f"mean {result['mean']:6.1f} ms", flush=True)
    before, after = statistics.median(p95["before"]), statistics.median(p95["after"])
    print(f"\nPOST /api/runs ({args.variant} spec) p95, median of {args.rounds} rounds: before {before:.1f} ms "
          f"({args.baseline}), after {after:.1f} ms: ratio {after / before:.2f}")


if __name__ == "__main__":
    main()
