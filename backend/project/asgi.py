"""ASGI entry point (uvicorn): live pages stream server-sent events without holding a thread."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.project.settings")
application = get_asgi_application()
