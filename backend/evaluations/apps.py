from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    """A checkpoint scored on a dataset split by several Ray workers (``POST /api/evaluations``)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "backend.evaluations"
    label = "evaluations"

    def ready(self) -> None:
        from . import lifecycle  # noqa: F401 - registers the evaluation kind with the job lifecycle
