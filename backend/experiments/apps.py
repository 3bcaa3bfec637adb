from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "backend.experiments"
    label = "experiments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The lifecycle listens for status changes (a team's next waiting job starts when one ends); the tasks
        # register with the Celery app, so that a dispatch queued by name runs in-process when eager.
        from . import lifecycle, tasks  # noqa: F401

