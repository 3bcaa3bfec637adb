"""One representation per object (the API's; the dashboard renders the same fields)."""
from rest_framework import serializers

from .models import Evaluation, EvaluationEvent, Split


class EvaluationCreateSerializer(serializers.Serializer):
    """What ``POST /api/evaluations`` takes; metrics and options are checked by the service (``scoring``)."""

    checkpoint = serializers.IntegerField(min_value=1, max_value=2**63 - 1,
                                          help_text="The checkpoint's id (a run's checkpoints list).")
    dataset = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                    help_text="A dataset of the run's team, by name or id (default: the run's).")
    split = serializers.ChoiceField(choices=Split.choices, default=Split.TEST)
    metrics = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=16,
                                    help_text="accuracy, precision, recall, f1_score, support; for a "
                                    "multi-label dataset mAP, CP, CR, CF1, OP, OR, OF1")
    metric_options = serializers.DictField(required=False, help_text="topk, thrs, average_mode (multi-label: "
                                           "thr or k)")
    num_workers = serializers.IntegerField(default=2, min_value=1, help_text="Ray workers, one shard each.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class EvaluationEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvaluationEvent
        fields = ["from_status", "to_status", "reason", "at"]


class EvaluationSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    run = serializers.UUIDField(source="checkpoint.run_id", read_only=True)
    checkpoint_file = serializers.CharField(source="checkpoint.filename", read_only=True)
    metrics = serializers.JSONField(source="metric_names", read_only=True)
    results = serializers.JSONField(source="metrics", read_only=True)
    verifies = serializers.UUIDField(source="verifies_id", read_only=True, allow_null=True,
                                     help_text="The run whose leaderboard number this evaluation verifies, if any.")
    reported = serializers.JSONField(read_only=True, help_text="A verification's reported number {metric, value}.")

    class Meta:
        model = Evaluation
        fields = ["id", "name", "team", "created_by", "run", "checkpoint", "checkpoint_file", "dataset", "split",
                  "metrics", "metric_options", "num_workers", "status", "status_reason", "results", "num_samples",
                  "scoring_seconds", "verifies", "reported", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class EvaluationDetailSerializer(EvaluationSerializer):
    events = EvaluationEventSerializer(many=True, read_only=True)

    class Meta(EvaluationSerializer.Meta):
        fields = EvaluationSerializer.Meta.fields + ["events"]
        read_only_fields = fields
