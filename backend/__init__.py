"""Trainyard's Django project: settings, Celery app, and the accounts / experiments apps."""
from .celery import app as celery_app

__all__ = ["celery_app"]
