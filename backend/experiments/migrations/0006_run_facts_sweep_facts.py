"""Each run and sweep keeps its spec's facts (``jobspecs.contract.SpecFacts``): the metrics, the primary metric
and its mode, the length and the effective batch, which the service reads instead of the spec's training fields.
Submit stores them from now on; this fills them in for the jobs stored before, from their resolved spec and
resources. A spec that cannot be read keeps ``{}``, which reads as the default facts (``models.default_facts``).
"""
from django.db import migrations, models

from jobspecs.contract import spec_facts


def facts_of(spec, resources) -> dict:
    """The facts of a stored spec on its job's resources; ``{}`` when the spec cannot be read.

    A copy of ``models.facts_of`` as it was when this migration was written (a migration keeps its own code).
    """
    if not isinstance(spec, dict):
        return {}
    own = spec.get("resources") if isinstance(spec.get("resources"), dict) else {}
    merged = {**own, **(resources if isinstance(resources, dict) else {})}
    try:
        return spec_facts({**spec, "resources": merged}).to_json()
    except (ValueError, TypeError, AttributeError, KeyError):  # ContractError is a ValueError
        return {}


def backfill(apps, schema_editor):
    for name in ("Run", "Sweep"):
        model = apps.get_model("experiments", name)
        changed = []
        for job in model.objects.only("pk", "resolved_spec", "resources").iterator(chunk_size=500):
            job.facts = facts_of(job.resolved_spec, job.resources)
            if job.facts:
                changed.append(job)
            if len(changed) >= 500:
                model.objects.bulk_update(changed, ["facts"])
                changed = []
        model.objects.bulk_update(changed, ["facts"])


class Migration(migrations.Migration):

    dependencies = [
        ('experiments', '0005_ingest_token_digests'),
    ]

    operations = [
        migrations.AddField(
            model_name='run',
            name='facts',
            field=models.JSONField(blank=True, db_default=models.Value({}, models.JSONField()), default=dict, editable=False, help_text='What the service knows of the spec (jobspecs.contract.SpecFacts): metrics, length, batch.'),
        ),
        migrations.AddField(
            model_name='sweep',
            name='facts',
            field=models.JSONField(blank=True, db_default=models.Value({}, models.JSONField()), default=dict, editable=False, help_text='What the service knows of the spec (jobspecs.contract.SpecFacts): metrics, length, batch.'),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
