"""One representation per object, shared by the API and the dashboard's JSON endpoints."""
from rest_framework import serializers

from workers.distributed.reporter import (
    MAX_BATCH_ITEMS,
    MAX_CHECKPOINT_PATH,
    MAX_LOG_LINE,
    MAX_METRIC_NAME,
    MAX_REASON,
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


class IngestMetricSerializer(serializers.Serializer):
    """One metric point (documents the shape; ``IngestBatchSerializer`` checks points with a plain loop,
    which is ~10x faster than a nested serializer per point at thousands of points a batch)."""

    mode = serializers.ChoiceField(choices=["train", "val"])
    name = serializers.CharField(max_length=64)
    step = serializers.IntegerField(min_value=0)
    epoch = serializers.IntegerField(required=False, allow_null=True)
    value = serializers.FloatField()


def _metric_point(item, index: int) -> dict:
    """A checked, normalised metric point; ``ValidationError`` naming the point and field otherwise."""
    import math

    def bad(field: str, message: str):
        return serializers.ValidationError({index: {field: [message]}})

    if not isinstance(item, dict):
        raise serializers.ValidationError({index: ["a metric point is an object"]})
    mode = item.get("mode")
    if mode not in ("train", "val"):
        raise bad("mode", f'"{mode}" is not a valid choice.')
    name = item.get("name")
    if not isinstance(name, str) or not name or len(name) > MAX_METRIC_NAME:
        raise bad("name", f"a non-empty string of at most {MAX_METRIC_NAME} characters")
    step = item.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise bad("step", "an integer >= 0")
    epoch = item.get("epoch")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
        raise bad("epoch", "an integer or null")
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad("value", "A valid number is required.")
    return {"mode": mode, "name": name, "step": step, "epoch": epoch, "value": float(value)}


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
    path = serializers.CharField(max_length=MAX_CHECKPOINT_PATH)
    epoch = serializers.IntegerField(min_value=0)
    iteration = serializers.IntegerField(min_value=0)
    size = serializers.IntegerField(min_value=0, required=False)
    metrics = serializers.DictField(required=False)


class IngestEventSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["running", "succeeded", "failed"], allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=MAX_REASON)
    environment = serializers.DictField(required=False, help_text="Reproducibility facts of the run.")
    early_stopped = serializers.BooleanField(required=False, help_text="A sweep's scheduler stopped the trial.")


class IngestBatchSerializer(serializers.Serializer):
    """One reporter batch. Its bounds (items of each kind, characters of a line or name) are the reporter's
    own (``workers/distributed/reporter.py``): a batch beyond them is refused (400), the request body beyond
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` too (413, ``api.exception_handler``); a log line too long is cut."""

    session = serializers.CharField(max_length=64)
    seq = serializers.IntegerField(min_value=0)
    metrics = IngestMetricsField(child=IngestMetricSerializer(), required=False)
    logs = serializers.ListField(child=LogLineField(), required=False, max_length=MAX_BATCH_ITEMS["logs"])
    checkpoints = IngestCheckpointSerializer(many=True, required=False, max_length=MAX_BATCH_ITEMS["checkpoints"])
    events = IngestEventSerializer(many=True, required=False, max_length=MAX_BATCH_ITEMS["events"])
