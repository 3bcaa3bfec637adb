from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    """A run's checkpoint served by Ray Serve (``POST /api/deployments``)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "backend.deployments"
    label = "deployments"
