"""One representation per object, shared by the API and the dashboard's JSON endpoints."""
from rest_framework import serializers

from jobspecs import contract
from jobspecs.contract import (
    BATCH_VERSION,
    EVENT_STATUSES,
    MAX_BATCH_ITEMS,
    MAX_CHECKPOINT_PATH,
    MAX_LOG_LINE,
    MAX_METRIC_NAME,
    MAX_REASON,
    MAX_SESSION,
    METRIC_MODES,
)

from .models import Checkpoint, Dataset, LogLine, MetricPoint, Run, RunEvent


class DatasetSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Dataset
        fields = ["id", "name", "team", "path", "description", "classes", "num_train", "num_val", "fingerprint",
                  "verification", "created_at"]


class DatasetCreateSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    path = serializers.CharField(required=False, allow_blank=True, max_length=500,
                                 help_text="A folder relative to the storage root (instead of a zip).")
    file = serializers.FileField(required=False, help_text="A zip in a CustomDataset layout (instead of a path).")
    description = serializers.CharField(required=False, allow_blank=True)
    team = serializers.SlugField(required=False, help_text="Team slug; defaults to your first team.")


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = ["from_status", "to_status", "reason", "at"]


class RunSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = Run
        fields = ["id", "name", "team", "created_by", "dataset", "status", "status_reason", "attempt", "spec_name",
                  "spec_hash", "cfg_options", "resources", "best_metrics", "tags", "sweep", "trial_id",
                  "created_at", "dispatched_at", "started_at", "finished_at"]


class RunDetailSerializer(RunSerializer):
    events = RunEventSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = RunSerializer.Meta.fields + ["spec_text", "resolved_spec", "environment", "trial_params",
                                              "early_stopped", "events"]


class RunTagsSerializer(serializers.Serializer):
    add = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)
    remove = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)


class RunBulkSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=500)
    action = serializers.ChoiceField(choices=["cancel", "tag", "untag"])
    tag = serializers.CharField(required=False, allow_blank=True, max_length=50,
                                help_text="The tag to add (action=tag) or remove (action=untag).")


class RunBulkResultSerializer(serializers.Serializer):
    id = serializers.CharField()
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class RunCreateSerializer(serializers.Serializer):
    spec_name = serializers.CharField(required=False, allow_blank=True, help_text="A library spec, e.g. demo/...")
    spec_text = serializers.CharField(required=False, allow_blank=True, max_length=256 * 1024,
                                      help_text="A spec to paste instead of a library one.")
    cfg_options = serializers.JSONField(required=False, help_text='{"a.b": value} or ["a.b=value", ...]')
    dataset = serializers.CharField(help_text="Dataset name (or id) in the team.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    team = serializers.SlugField(required=False, help_text="Team slug; defaults to your first team.")
    resources = serializers.JSONField(required=False)


class MetricPointSerializer(serializers.ModelSerializer):
    """A stored point, or one of a downsampled curve (then ``id`` is null)."""

    id = serializers.IntegerField(read_only=True, allow_null=True, required=False, default=None)

    class Meta:
        model = MetricPoint
        fields = ["id", "mode", "name", "step", "epoch", "value"]


class LogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = LogLine
        fields = ["id", "text", "created_at"]


class CheckpointSerializer(serializers.ModelSerializer):
    filename = serializers.CharField(read_only=True)
    available = serializers.BooleanField(read_only=True, help_text="False once max_keep_ckpts rotated it out")
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Checkpoint
        fields = ["id", "filename", "path", "epoch", "iteration", "size", "metrics", "available", "created_at",
                  "download_url"]

    def get_download_url(self, obj) -> str:
        return f"/api/runs/{obj.run_id}/checkpoints/{obj.pk}/download"


# The ingestion serializers describe ``jobspecs.contract.IngestBatch`` (what the reporter posts): their
# fields and bounds are the contract's, metric points are checked by the contract itself, and
# tests/unit/backend/test_ingest_contract.py fails when the two name different fields.


class IngestMetricSerializer(serializers.Serializer):
    """One metric point (``contract.MetricPoint``; documents the shape: ``IngestBatchSerializer`` checks points
    with ``MetricPoint.checked_json``, ~10x faster than a nested serializer per point at thousands a batch)."""

    mode = serializers.ChoiceField(choices=list(METRIC_MODES))
    name = serializers.CharField(max_length=MAX_METRIC_NAME)
    step = serializers.IntegerField(min_value=0)
    epoch = serializers.IntegerField(required=False, allow_null=True)
    value = serializers.FloatField()


def _metric_point(item, index: int) -> dict:
    """A checked, normalised metric point (``contract.MetricPoint``); ``ValidationError`` naming the point and
    field otherwise."""
    try:
        return contract.MetricPoint.checked_json(item, ("metrics", index))
    except contract.ContractError as err:
        if len(err.path) > 2:
            raise serializers.ValidationError({index: {err.path[2]: [err.message]}}) from None
        raise serializers.ValidationError({index: [err.message]}) from None


class IngestMetricsField(serializers.ListField):
    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError("a list of metric points")
        if len(data) > MAX_BATCH_ITEMS["metrics"]:
            raise serializers.ValidationError(f"at most {MAX_BATCH_ITEMS['metrics']} points a batch")
        return [_metric_point(item, i) for i, item in enumerate(data)]


class LogLineField(serializers.CharField):
    """One log line, cut to ``MAX_LOG_LINE`` characters (its end marked "…"): the reporter sends longer ones
    in pieces, and a line too long is not worth refusing the batch (and its metric points) over."""

    def __init__(self, **kwargs):
        super().__init__(allow_blank=True, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        return text if len(text) <= MAX_LOG_LINE else text[:MAX_LOG_LINE - 1] + "…"


class IngestCheckpointSerializer(serializers.Serializer):
    """One checkpoint record (``contract.CheckpointRecord``)."""

    path = serializers.CharField(max_length=MAX_CHECKPOINT_PATH)
    epoch = serializers.IntegerField(min_value=0)
    iteration = serializers.IntegerField(min_value=0)
    size = serializers.IntegerField(min_value=0, required=False)
    metrics = serializers.DictField(required=False)


class IngestEventSerializer(serializers.Serializer):
    """One status change or facts about the run (``contract.Event``)."""

    status = serializers.ChoiceField(choices=list(EVENT_STATUSES), allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=MAX_REASON)
    environment = serializers.DictField(required=False, help_text="Reproducibility facts of the run.")
    early_stopped = serializers.BooleanField(required=False, help_text="A sweep's scheduler stopped the trial.")


class IngestBatchSerializer(serializers.Serializer):
    """One reporter batch (``contract.IngestBatch``). Its bounds (items of each kind, characters of a line or
    name) are the contract's, which the reporter keeps too: a batch beyond them is refused (400), the request
    body beyond ``DATA_UPLOAD_MAX_MEMORY_SIZE`` too (413, ``api.exception_handler``); a log line too long is
    cut. A batch of a version this release does not read is refused (absent: version 1)."""

    version = serializers.IntegerField(required=False, help_text="The contract's batch version (1).")
    session = serializers.CharField(max_length=MAX_SESSION)
    seq = serializers.IntegerField(min_value=0)
    metrics = IngestMetricsField(child=IngestMetricSerializer(), required=False)
    logs = serializers.ListField(child=LogLineField(), required=False, max_length=MAX_BATCH_ITEMS["logs"])
    checkpoints = IngestCheckpointSerializer(many=True, required=False, max_length=MAX_BATCH_ITEMS["checkpoints"])
    events = IngestEventSerializer(many=True, required=False, max_length=MAX_BATCH_ITEMS["events"])

    def validate_version(self, value: int) -> int:
        if value != BATCH_VERSION:
            raise serializers.ValidationError(f"version {value} is not one this side reads (it reads "
                                              f"{BATCH_VERSION}); the service and the workers run different releases")
        return value
