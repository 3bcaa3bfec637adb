"""The Django project: settings, URL map, ASGI/WSGI entry points and the Celery app (``celery -A backend.project``).

The Celery app is made here, as the settings load, so that every app's ``shared_task`` binds to it.
"""
from .celery import app as celery_app

__all__ = ["celery_app"]
