"""Django settings for Trainyard.

Every deployment-specific value comes from the environment. Unset, each falls back to the
embedded default of DESIGN.md so that `python manage.py up` works on a bare laptop:

| variable             | embedded default                         | production            |
|----------------------|------------------------------------------|-----------------------|
| DATABASE_URL         | SQLite file var/trainyard.sqlite3 (WAL)  | postgres://...        |
| CELERY_BROKER_URL    | filesystem:// under var/broker           | redis://...           |
| RAY_ADDRESS          | http://127.0.0.1:8265 (head from `up`)   | the cluster dashboard |
| TRAINYARD_STORAGE    | var/storage                              | shared path or URI    |
"""

import os
from pathlib import Path

import dj_database_url

from workers.storage import is_uri

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TRAINYARD_VAR", BASE_DIR / "var")).resolve()


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "trainyard-embedded-insecure-key-change-me")
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from here, not a CDN (works offline)
    "backend.accounts",
    "backend.experiments",
    "backend.leaderboard",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["frontend.templatetags.trainyard"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'trainyard.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The web process, Celery and the ingestion endpoint write at once: WAL lets readers go on
    # while one writes, IMMEDIATE transactions queue writers instead of failing on upgrade, and
    # the busy timeout makes a writer wait rather than raise "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-trainyard.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "runs"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request without it
# WhiteNoise serves the vendored assets straight from the apps' static/ folders (no collectstatic
# step on the embedded stack); a production deployment may put nginx in front instead.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Requests carry specs (a few KiB) and ingestion batches (bounded by the reporter); refuse more.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
# An uploaded file (a dataset zip) larger than this is streamed to a temporary file, not held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "backend.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "backend.experiments.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trainyard API",
    "DESCRIPTION": "Submit, watch and cancel image-classification training runs.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # runs and sweeps share one state machine: one enum in the schema
    "ENUM_NAME_OVERRIDES": {"JobStatusEnum": "backend.experiments.models.RunStatus"},
}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "backend.broker:AtomicFilesystemTransport"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder for both directions: producer and consumer share the queue.
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.25,  # kombu's default 1 s is a visible wait before every dispatch
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task gets the task redelivered
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE = {
    "reconcile-runs": {
        "task": "backend.experiments.tasks.reconcile_runs",
        "schedule": float(os.environ.get("TRAINYARD_RECONCILE_SECONDS", "10")),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Ray and storage --------------------------------------------------------------------------
RAY_ADDRESS = os.environ.get("RAY_ADDRESS") or "http://127.0.0.1:8265"
# A path (resolved to a Path, as the embedded default) or an object-store URI (kept as the string given,
# e.g. s3://bucket/prefix?endpoint_override=host:9000&scheme=http): workers/storage.py opens either.
_STORAGE = os.environ.get("TRAINYARD_STORAGE") or str(VAR_DIR / "storage")
TRAINYARD_STORAGE = (_STORAGE if is_uri(_STORAGE)
                     else Path(_STORAGE.removeprefix("file://")).expanduser().resolve())
# The URL a Ray job uses to reach the ingestion endpoint (the web server as the cluster sees it).
TRAINYARD_PUBLIC_URL = os.environ.get("TRAINYARD_PUBLIC_URL", "http://127.0.0.1:8000")
# Python the Ray job's entrypoint runs with; a cluster's nodes have the project installed.
TRAINYARD_JOB_PYTHON = os.environ.get("TRAINYARD_JOB_PYTHON", "python")
# A run dispatching for longer than this without a Ray job is dispatched again by reconcile.
TRAINYARD_DISPATCH_GRACE_SECONDS = int(os.environ.get("TRAINYARD_DISPATCH_GRACE_SECONDS", "60"))
# A dataset uploaded as a zip (the Datasets page, POST /api/datasets): the most it may hold, unpacked.
TRAINYARD_DATASET_UPLOAD_MAX_BYTES = int(os.environ.get("TRAINYARD_DATASET_UPLOAD_MAX_BYTES", str(2 * 1024**3)))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TRAINYARD_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
