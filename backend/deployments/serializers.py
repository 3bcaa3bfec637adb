"""One representation per object (the API's; the dashboard renders the same fields)."""
from django.conf import settings
from rest_framework import serializers

from workers.tools.vis_cam import SHOWN_METHODS

from .models import Deployment, Runtime


class DeploymentCreateSerializer(serializers.Serializer):
    """What ``POST /api/deployments`` takes; the limits are the operator's (settings)."""

    checkpoint = serializers.IntegerField(min_value=1, max_value=2**63 - 1,
                                          help_text="The checkpoint's id (a run's checkpoints list).")
    runtime = serializers.ChoiceField(choices=Runtime.choices, default=Runtime.PYTORCH)
    replicas = serializers.IntegerField(default=1, min_value=1)
    cpus_per_replica = serializers.FloatField(default=1.0, min_value=0.1)
    gpus_per_replica = serializers.FloatField(default=0.0, min_value=0.0)
    max_batch_size = serializers.IntegerField(default=8, min_value=1,
                                              help_text="Most images one forward takes (@serve.batch).")
    batch_wait_timeout_s = serializers.FloatField(default=0.01, min_value=0.0, max_value=10.0,
                                                  help_text="How long a batch waits to fill (@serve.batch).")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate_replicas(self, value):
        most = settings.TRAINYARD_DEPLOY_MAX_REPLICAS
        if value > most:
            raise serializers.ValidationError(f"at most {most} replicas (TRAINYARD_DEPLOY_MAX_REPLICAS)")
        return value

    def validate_cpus_per_replica(self, value):
        most = settings.TRAINYARD_MAX_CPUS_PER_WORKER
        if value > most:
            raise serializers.ValidationError(f"at most {most:g} CPUs per replica (TRAINYARD_MAX_CPUS_PER_WORKER)")
        return value

    def validate_gpus_per_replica(self, value):
        most = settings.TRAINYARD_MAX_GPUS_PER_WORKER
        if value > most:
            raise serializers.ValidationError(f"at most {most:g} GPUs per replica (TRAINYARD_MAX_GPUS_PER_WORKER)")
        return value

    def validate_max_batch_size(self, value):
        most = settings.TRAINYARD_DEPLOY_MAX_BATCH_SIZE
        if value > most:
            raise serializers.ValidationError(f"at most {most} (TRAINYARD_DEPLOY_MAX_BATCH_SIZE)")
        return value


class DeploymentSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    checkpoint_file = serializers.CharField(source="checkpoint.filename", read_only=True)
    latency_p50_ms = serializers.SerializerMethodField()
    latency_p95_ms = serializers.SerializerMethodField()
    deploy_to_first_prediction_s = serializers.SerializerMethodField()
    predict_url = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = ["id", "name", "team", "created_by", "run", "checkpoint", "checkpoint_file", "runtime", "replicas",
                  "cpus_per_replica", "gpus_per_replica", "max_batch_size", "batch_wait_timeout_s", "status",
                  "status_reason", "request_count", "image_count", "error_count", "latency_p50_ms",
                  "latency_p95_ms", "deploy_to_first_prediction_s", "created_at", "running_at",
                  "first_prediction_at", "ended_at", "predict_url"]
        read_only_fields = fields

    def _stats(self, obj):
        from .services import latency_stats

        cache = self.context.setdefault("latency", {})
        if obj.pk not in cache:
            cache[obj.pk] = latency_stats(obj)
        return cache[obj.pk]

    def get_latency_p50_ms(self, obj) -> float | None:
        return self._stats(obj).p50_ms

    def get_latency_p95_ms(self, obj) -> float | None:
        return self._stats(obj).p95_ms

    def get_deploy_to_first_prediction_s(self, obj) -> float | None:
        if obj.first_prediction_at is None:
            return None
        return round((obj.first_prediction_at - obj.created_at).total_seconds(), 3)

    def get_predict_url(self, obj) -> str:
        return f"/api/deployments/{obj.pk}/predict"


class DeploymentDetailSerializer(DeploymentSerializer):
    """One deployment, with what Ray Serve says of it now (``live``: its application's status and replicas)."""

    live = serializers.SerializerMethodField()

    class Meta(DeploymentSerializer.Meta):
        fields = DeploymentSerializer.Meta.fields + ["live"]
        read_only_fields = fields

    def get_live(self, obj) -> dict | None:
        return self.context.get("live")


class PredictionSerializer(serializers.Serializer):
    """One image's answer: ``trainyard infer``'s three keys and the top-k, best first."""

    filename = serializers.CharField()
    pred_label = serializers.IntegerField()
    pred_score = serializers.FloatField()
    pred_class = serializers.CharField()
    topk = serializers.ListField(child=serializers.DictField())


class PredictResultSerializer(serializers.Serializer):
    predictions = PredictionSerializer(many=True)
    latency_ms = serializers.FloatField()
    runtime = serializers.CharField()


class PredictRequestSerializer(serializers.Serializer):
    """Multipart: one file as ``image``, several as ``images`` (repeated)."""

    image = serializers.FileField(required=False)
    images = serializers.ListField(child=serializers.FileField(), required=False)


class CamRequestSerializer(serializers.Serializer):
    """One image file as multipart form data, and the CAM method (``trainyard vis-cam``'s, default GradCAM)."""

    image = serializers.FileField()
    method = serializers.ChoiceField(choices=list(SHOWN_METHODS), required=False, default="GradCAM")


class CamSerializer(serializers.Serializer):
    method = serializers.CharField()
    target_layers = serializers.ListField(child=serializers.CharField())
    category = serializers.IntegerField()
    score = serializers.FloatField(help_text="the model's score of the category")
    png = serializers.CharField(help_text="the picture (the image as the test pipeline shows it, then the map "
                                          "blended on it), a PNG in base64")


class CamResultSerializer(serializers.Serializer):
    predictions = PredictionSerializer(many=True)
    cam = CamSerializer()
    latency_ms = serializers.FloatField()
    runtime = serializers.CharField()
