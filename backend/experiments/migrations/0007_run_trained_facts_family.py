"""A run keeps how far it trained (``Run.trained``: the last epoch, or iteration for an iteration-based spec, its
reports reached), which the leaderboard shows instead of the spec's length; and a job's spec facts name its
model's family (``SpecFacts.family``, issue #17 item 2). Ingestion and submit keep both from now on; this fills
them in for the jobs stored before: ``trained`` from the run's metric points and checkpoints, the family from
the facts' backbone type by the workers' naming (``workers.models.families``).
"""
from django.db import migrations, models
from django.db.models import Max


def _furthest(rows, epoch: str, step: str) -> dict:
    return {row["run_id"]: (row[epoch], row[step]) for row in rows}


def backfill_trained(apps, schema_editor):
    run_model = apps.get_model("experiments", "Run")
    points = _furthest(apps.get_model("experiments", "MetricPoint").objects.order_by().values("run_id")
                       .annotate(e=Max("epoch"), s=Max("step")), "e", "s")
    saved = _furthest(apps.get_model("experiments", "Checkpoint").objects.order_by().values("run_id")
                      .annotate(e=Max("epoch"), s=Max("iteration")), "e", "s")
    changed = []
    for run in run_model.objects.filter(pk__in=set(points) | set(saved)).only("pk", "facts").iterator(chunk_size=500):
        at = 1 if (run.facts or {}).get("unit") == "iter" else 0
        reached = [v[at] for v in (points.get(run.pk), saved.get(run.pk)) if v is not None and v[at] is not None]
        if reached:
            run.trained = max(reached)
            changed.append(run)
        if len(changed) >= 500:
            run_model.objects.bulk_update(changed, ["trained"])
            changed = []
    run_model.objects.bulk_update(changed, ["trained"])


def backfill_family(apps, schema_editor):
    for name in ("Run", "Sweep"):
        model = apps.get_model("experiments", name)
        changed = []
        for job in model.objects.only("pk", "facts").iterator(chunk_size=500):
            facts = job.facts if isinstance(job.facts, dict) else {}
            if not facts or facts.get("family") is not None or not isinstance(facts.get("backbone"), str):
                continue
            from workers.models.families import model_family  # the registries import torch: only for old rows

            job.facts = {**facts, "family": model_family(facts["backbone"])}
            changed.append(job)
            if len(changed) >= 500:
                model.objects.bulk_update(changed, ["facts"])
                changed = []
        model.objects.bulk_update(changed, ["facts"])


class Migration(migrations.Migration):

    dependencies = [
        ('experiments', '0006_run_facts_sweep_facts'),
    ]

    operations = [
        migrations.AddField(
            model_name='run',
            name='trained',
            field=models.BigIntegerField(blank=True, editable=False, help_text="How far the run trained, in its facts' unit: the last epoch (or iteration) its reports reached.", null=True),
        ),
        migrations.RunPython(backfill_trained, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(backfill_family, migrations.RunPython.noop, elidable=True),
    ]
