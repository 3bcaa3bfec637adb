"""Metric point storage for issue #6: one index fewer per point, and curve envelopes kept at ingestion.

- The foreign key index on ``run_id`` goes: the ``point_once`` unique index (run, mode, name, step)
  starts with ``run_id`` and serves the same lookups, and every stored point paid for both.
- ``experiments_curve_envelope`` (PostgreSQL only) keeps, for every curve, the smallest and the
  largest point of each ``2**level`` steps wide bucket, at levels 4, 7, ... 22 (16 to 4M steps).
  ``downsample.curve`` reads a few thousand of these rows instead of bucketing up to millions of
  points per request. Statement triggers on ``experiments_metricpoint`` keep it exact whatever writes
  the points (ingestion's ``INSERT ... ON CONFLICT``, ``bulk_create``, raw SQL): an insert merges the
  inserted rows (only those actually stored: a replayed step dropped by the conflict is not in the
  transition table), an update or delete rebuilds the curves it touched, a truncate empties it.
  It is no Django model on purpose: nothing but those triggers writes it, and only
  ``downsample.py`` reads it.

The backfill below fills it from the points already stored (the finest level from the points, each
coarser one from the level below it).
"""
from itertools import pairwise

import django.db.models.deletion
from django.db import migrations, models

LEVELS = (4, 7, 10, 13, 16, 19, 22)  # keep in step with downsample.ENVELOPE_LEVELS
COLUMNS = "run_id, mode, name, level, bucket, lo_step, lo_value, hi_step, hi_value"


def levels_sql(source: str) -> str:
    """``WITH`` clauses and a ``SELECT`` of every level's buckets of the points in ``source``.

    Each bucket keeps its smallest point (smallest value, earliest step on a tie) and its largest
    (largest value, earliest step on a tie); a coarser level merges the buckets of the level below.
    """
    first = LEVELS[0]
    parts = [f"""l{first} AS (
        SELECT run_id, mode, name, {first} AS level, step >> {first} AS bucket,
               (array_agg(step ORDER BY value, step))[1] AS lo_step, min(value) AS lo_value,
               (array_agg(step ORDER BY value DESC, step))[1] AS hi_step, max(value) AS hi_value
        FROM {source} GROUP BY run_id, mode, name, step >> {first})"""]
    for below, level in pairwise(LEVELS):
        shift = level - below
        parts.append(f"""l{level} AS (
        SELECT run_id, mode, name, {level} AS level, bucket >> {shift} AS bucket,
               (array_agg(lo_step ORDER BY lo_value, lo_step))[1] AS lo_step, min(lo_value) AS lo_value,
               (array_agg(hi_step ORDER BY hi_value DESC, hi_step))[1] AS hi_step, max(hi_value) AS hi_value
        FROM l{below} GROUP BY run_id, mode, name, bucket >> {shift})""")
    union = " UNION ALL ".join(f"SELECT * FROM l{level}" for level in LEVELS)
    return f"WITH {', '.join(parts)} SELECT {COLUMNS} FROM ({union}) AS b ORDER BY run_id, mode, name, level, bucket"


# Merging into an existing bucket: the smaller (larger) of the two extremes, earliest step on a tie.
MERGE = """
ON CONFLICT (run_id, mode, name, level, bucket) DO UPDATE SET
    lo_step = CASE WHEN (EXCLUDED.lo_value, EXCLUDED.lo_step) < (e.lo_value, e.lo_step)
                   THEN EXCLUDED.lo_step ELSE e.lo_step END,
    lo_value = LEAST(e.lo_value, EXCLUDED.lo_value),
    hi_step = CASE WHEN EXCLUDED.hi_value > e.hi_value
                        OR (EXCLUDED.hi_value = e.hi_value AND EXCLUDED.hi_step < e.hi_step)
                   THEN EXCLUDED.hi_step ELSE e.hi_step END,
    hi_value = GREATEST(e.hi_value, EXCLUDED.hi_value)
"""

# The points of the curves named in the transition table ``changed`` (an update or delete rebuilds them).
TOUCHED = """(SELECT p.run_id, p.mode, p.name, p.step, p.value FROM experiments_metricpoint p
              JOIN (SELECT DISTINCT run_id, mode, name FROM {changed}) c USING (run_id, mode, name)) AS t"""


def rebuild_body(changed: str) -> str:
    return f"""
        DELETE FROM experiments_curve_envelope e USING (SELECT DISTINCT run_id, mode, name FROM {changed}) c
        WHERE e.run_id = c.run_id AND e.mode = c.mode AND e.name = c.name;
        INSERT INTO experiments_curve_envelope ({COLUMNS}) {levels_sql(TOUCHED.format(changed=changed))};"""


FORWARD = f"""
CREATE TABLE experiments_curve_envelope (
    run_id uuid NOT NULL,
    mode varchar(8) NOT NULL,
    name varchar(64) NOT NULL,
    level smallint NOT NULL,
    bucket bigint NOT NULL,
    lo_step bigint NOT NULL,
    lo_value double precision NOT NULL,
    hi_step bigint NOT NULL,
    hi_value double precision NOT NULL,
    PRIMARY KEY (run_id, mode, name, level, bucket)
);

CREATE FUNCTION experiments_curve_envelope_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO experiments_curve_envelope AS e ({COLUMNS}) {levels_sql("new_points")} {MERGE};
    RETURN NULL;
END $$;

CREATE FUNCTION experiments_curve_envelope_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {rebuild_body("old_points")}
    RETURN NULL;
END $$;

CREATE FUNCTION experiments_curve_envelope_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {rebuild_body("(SELECT run_id, mode, name FROM old_points UNION SELECT run_id, mode, name FROM new_points) AS u")}
    RETURN NULL;
END $$;

CREATE FUNCTION experiments_curve_envelope_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE experiments_curve_envelope;
    RETURN NULL;
END $$;

CREATE TRIGGER curve_envelope_insert AFTER INSERT ON experiments_metricpoint
    REFERENCING NEW TABLE AS new_points FOR EACH STATEMENT EXECUTE FUNCTION experiments_curve_envelope_insert();
CREATE TRIGGER curve_envelope_delete AFTER DELETE ON experiments_metricpoint
    REFERENCING OLD TABLE AS old_points FOR EACH STATEMENT EXECUTE FUNCTION experiments_curve_envelope_delete();
CREATE TRIGGER curve_envelope_update AFTER UPDATE ON experiments_metricpoint
    REFERENCING OLD TABLE AS old_points NEW TABLE AS new_points
    FOR EACH STATEMENT EXECUTE FUNCTION experiments_curve_envelope_update();
CREATE TRIGGER curve_envelope_truncate AFTER TRUNCATE ON experiments_metricpoint
    FOR EACH STATEMENT EXECUTE FUNCTION experiments_curve_envelope_truncate();

INSERT INTO experiments_curve_envelope ({COLUMNS}) {levels_sql("experiments_metricpoint")};
"""

BACKWARD = """
DROP TRIGGER IF EXISTS curve_envelope_insert ON experiments_metricpoint;
DROP TRIGGER IF EXISTS curve_envelope_delete ON experiments_metricpoint;
DROP TRIGGER IF EXISTS curve_envelope_update ON experiments_metricpoint;
DROP TRIGGER IF EXISTS curve_envelope_truncate ON experiments_metricpoint;
DROP FUNCTION IF EXISTS experiments_curve_envelope_insert(), experiments_curve_envelope_delete(),
    experiments_curve_envelope_update(), experiments_curve_envelope_truncate();
DROP TABLE IF EXISTS experiments_curve_envelope;
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('experiments', '0003_sweeps_tags'),
    ]

    operations = [
        migrations.AlterField(
            model_name='metricpoint',
            name='run',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name='metrics', to='experiments.run'),
        ),
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD), elidable=False),
    ]
