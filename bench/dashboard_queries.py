"""Dashboard queries at team scale on PostgreSQL: the run list, the leaderboard, a downsampled curve,
and the ingestion rate (issue #6).

Creates its own database on the local PostgreSQL (``BENCH_PG_URL``, default
``postgres://postgres@127.0.0.1:5432/postgres``), migrates it, seeds 10k runs and 5M metric points
(generated inside PostgreSQL: ``INSERT ... SELECT generate_series`` with the unique index built after
the load, the fast path COPY would also take; the curve envelopes of migration 0004 are filled by
their insert trigger, as for ingested points), then times each request through the whole Django stack
(URL routing, token authentication, DRF, serializers) with the test client, and drops the database.

Ratios are against baselines measured in the same run: a ``SELECT 1`` round trip and a bare
``COUNT(*)`` of the runs. Goals: p95 < 100 ms (run list, leaderboard), < 150 ms (curve), >= 20k
points/s (ingestion). The numbers are printed; nothing passes or fails.

    .venv/bin/python bench/dashboard_queries.py [--runs 10000] [--points 5000000] [--repeat 40]
"""
import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SPECS = ["resnet/resnet18_8xb32_in1k.py", "resnet/resnet50_8xb32_in1k.py", "mobilenet_v2/mobilenet-v2_8xb32_in1k.py",
         "vision_transformer/vit-base-p16_pt-32xb128-mae_in1k.py", "convnext/convnext-tiny_32xb128_in1k.py",
         "lenet/lenet5_mnist.py"] + [f"custom/spec_{i}.py" for i in range(34)]


def admin_connection():
    import psycopg2

    conn = psycopg2.connect(PG_URL)
    conn.autocommit = True
    return conn


def create_database() -> str:
    name = f"trainyard_bench_{uuid.uuid4().hex[:8]}"
    conn = admin_connection()
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return urlparse(PG_URL)._replace(path=f"/{name}").geturl()


def drop_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    conn = admin_connection()
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


# The columns the seed's INSERT gives values of; every other NOT NULL column gets its model default
# (``_defaulted_columns``), so that a field added later does not break the bench.
GIVEN_RUN_COLUMNS = [
    "id", "team_id", "created_by_id", "name", "dataset_id", "spec_name", "spec_text", "cfg_options",
    "resolved_spec", "spec_hash", "resources", "status", "status_reason", "ray_submission_id", "attempt",
    "created_at", "dispatched_at", "started_at", "finished_at", "best_metrics", "environment", "trial_id",
    "trial_params", "early_stopped"]


def _defaulted_columns(model, given: list[str]) -> tuple[list[str], list]:
    """The NOT NULL columns of ``model`` outside ``given``, and their model defaults as SQL parameters."""
    import json

    from django.db.models import JSONField

    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.column in given or field.null or not field.has_default():
            continue
        value = field.get_default()
        columns.append(field.column)
        values.append(json.dumps(value) if isinstance(field, JSONField) else value)
    return columns, values


def seed(n_runs: int, n_points: int) -> dict:
    """Teams, users, a token, two datasets, ``n_runs`` finished runs with best metrics, and points."""
    from django.db import connection

    from backend.accounts.models import ApiToken, Membership, Role, Team
    from backend.experiments.models import Dataset, Run

    team = Team.objects.create(name="Bench", slug="bench")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench")
    Membership.objects.create(user=user, team=team, role=Role.OWNER)
    _, token = ApiToken.issue(user, "bench")
    ds = [Dataset.objects.create(team=team, name=n, path=f"datasets/{n}") for n in ("imagenet", "digits")]
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        # Runs: 5% still running, best top-1 spread per spec, 40 specs on 2 datasets.
        rest, rest_values = _defaulted_columns(Run, GIVEN_RUN_COLUMNS)
        head = (f"INSERT INTO experiments_run ({', '.join(rest + GIVEN_RUN_COLUMNS)}) "
                f"SELECT {''.join('%s, ' for _ in rest)}")
        cur.execute(head + """md5(i::text || 'run')::uuid, %s, %s, 'run ' || i, CASE WHEN i %% 3 = 0 THEN %s ELSE %s END,
                (%s::text[])[1 + i %% %s], 'x = 1', '{}', '{"runner": {"max_epochs": 100}}',
                md5(i::text), '{"num_workers": 2}', CASE WHEN i %% 20 = 0 THEN 'running' ELSE 'succeeded' END,
                '', '', 0, now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval,
                now() - (i || ' minutes')::interval, now() - ((i - 30) || ' minutes')::interval,
                jsonb_build_object('accuracy_top-1', 50 + (i * 7919 %% 5000) / 100.0,
                                   'accuracy_top-5', 80 + (i * 104729 %% 2000) / 100.0, 'epoch', 1 + i %% 100),
                '{}', '', '{}', false
            FROM generate_series(1, %s) AS i
        """, [*rest_values, team.pk, user.pk, ds[1].pk, ds[0].pk, SPECS, len(SPECS), n_runs])
        runs_s = time.perf_counter() - t0
        cur.execute("SELECT id FROM experiments_run ORDER BY created_at DESC LIMIT 1")
        big_run = cur.fetchone()[0]
        # Points: one long curve (a big run: 10% of the points) and the rest spread over all runs.
        big = n_points // 10
        per_run = max(1, (n_points - big) // n_runs)
        t1 = time.perf_counter()
        cur.execute("ALTER TABLE experiments_metricpoint DROP CONSTRAINT point_once")
        cur.execute("""
            INSERT INTO experiments_metricpoint (run_id, mode, name, step, epoch, value, created_at)
            SELECT %s, 'train', 'loss', s, s / 1000, 2.0 / (1 + s / 5000.0) + random() * 0.05, now()
            FROM generate_series(1, %s) AS s
        """, [big_run, big])
        cur.execute("""
            INSERT INTO experiments_metricpoint (run_id, mode, name, step, epoch, value, created_at)
            SELECT r.id, 'train', 'loss', s, s / 50, random(), now()
            FROM (SELECT id FROM experiments_run WHERE id <> %s) r, generate_series(1, %s) AS s
        """, [big_run, per_run])
        cur.execute("ALTER TABLE experiments_metricpoint ADD CONSTRAINT point_once "
                    "UNIQUE (run_id, mode, name, step)")
        cur.execute("ANALYZE")
        cur.execute("SELECT count(*) FROM experiments_metricpoint")
        total = cur.fetchone()[0]
    return {"token": token, "big_run": str(big_run), "runs_s": runs_s, "points_s": time.perf_counter() - t1,
            "points": total, "user": user, "team": team, "dataset": ds[0]}


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm: imports, the zoo's metafiles, PostgreSQL's caches
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def sql(query: str):
    from django.db import connection

    def run():
        with connection.cursor() as cur:
            cur.execute(query)
            cur.fetchall()
    return run


def get(client, url: str, token: str):
    def run():
        r = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert r.status_code == 200, (url, r.status_code, r.content[:300])
        return r
    return run


def ingestion(client, seeded: dict, batches: int, size: int) -> float:
    """Points per second through POST /api/ingest/<run> (batches of ``size`` train + val points)."""
    from backend.experiments.models import Run, RunStatus
    from backend.experiments.tokens import issue_ingest_token

    run = Run.objects.create(team=seeded["team"], created_by=seeded["user"], name="ingest", dataset=seeded["dataset"],
                             spec_text="x = 1", resolved_spec={}, spec_hash="0" * 64, status=RunStatus.RUNNING)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issue_ingest_token(run)}"}
    payloads = []
    for b in range(batches):
        metrics = [{"mode": "train", "name": "loss", "step": b * size + i, "epoch": b, "value": 1.0 / (1 + i)}
                   for i in range(size - 2)]
        metrics += [{"mode": "val", "name": n, "step": b * size, "epoch": b, "value": 50.0 + b}
                    for n in ("accuracy_top-1", "accuracy_top-5")]
        payloads.append({"session": "bench", "seq": b, "metrics": metrics})
    import json

    bodies = [json.dumps(p) for p in payloads]
    t0 = time.perf_counter()
    for body in bodies:
        r = client.post(f"/api/ingest/{run.pk}", body, content_type="application/json", **auth)
        assert r.status_code == 200, r.content[:300]
    return batches * size / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=40, help="requests timed per query")
    parser.add_argument("--batches", type=int, default=40, help="ingestion batches of --batch-size points")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    url = create_database()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["DJANGO_SETTINGS_MODULE"] = "backend.project.settings"
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client

        call_command("migrate", verbosity=0)
        seeded = seed(args.runs, args.points)
        print(f"seeded {args.runs} runs in {seeded['runs_s']:.1f} s, {seeded['points']:,} points in "
              f"{seeded['points_s']:.1f} s (unique index built after the load, curve envelopes during it)")
        client, token = Client(), seeded["token"]
        rows = [
            ("baseline: SELECT 1", timed(sql("SELECT 1"), args.repeat), None),
            ("baseline: COUNT(*) runs", timed(sql("SELECT count(*) FROM experiments_run"), args.repeat), None),
            ("GET /api/runs (first page)", timed(get(client, "/api/runs", token), args.repeat), 100),
            ("GET /api/leaderboard", timed(get(client, "/api/leaderboard", token), args.repeat), 100),
            ("GET /api/leaderboard?dataset=imagenet", timed(get(client, "/api/leaderboard?dataset=imagenet", token),
                                                            args.repeat), 100),
            ("GET metrics loss, max_points=2000", timed(get(
                client, f"/api/runs/{seeded['big_run']}/metrics?name=loss&mode=train&max_points=2000", token),
                args.repeat), 150),
        ]
        curve = get(client, f"/api/runs/{seeded['big_run']}/metrics?name=loss&mode=train&max_points=2000",
                    token)().json()
        n_curve = len(curve) if isinstance(curve, list) else sum(len(c.get("points", c)) for c in curve.values()) \
            if isinstance(curve, dict) else "?"
        base = p95(rows[0][1])
        count_base = p95(rows[1][1])
        print(f"\n{'query':<40}{'p50 ms':>9}{'p95 ms':>9}{'goal':>8}{'x SELECT 1':>12}{'x COUNT':>9}")
        for name, samples, goal in rows:
            q95 = p95(samples)
            print(f"{name:<40}{statistics.median(samples):>9.2f}{q95:>9.2f}{(str(goal) if goal else '-'):>8}"
                  f"{q95 / base:>12.1f}{q95 / count_base:>9.2f}")
        print(f"(curve of {seeded['points'] // 10:,} raw points returned as {n_curve} points)")
        rate = ingestion(client, seeded, args.batches, args.batch_size)
        print(f"\ningestion: {rate:,.0f} points/s through POST /api/ingest/<run> "
              f"({args.batches} batches of {args.batch_size}; goal >= 20,000/s)")
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(url)


if __name__ == "__main__":
    main()
