"""Django settings for Trainyard.

Every deployment-specific value comes from the environment. Unset, each falls back to the
embedded default of DESIGN.md so that `python manage.py up` works on a bare laptop:

| variable             | embedded default                         | production            |
|----------------------|------------------------------------------|-----------------------|
| DATABASE_URL         | SQLite file var/trainyard.sqlite3 (WAL)  | postgres://...        |
| CELERY_BROKER_URL    | filesystem:// under var/broker           | redis://...           |
| RAY_ADDRESS          | http://127.0.0.1:8265 (head from `up`)   | the cluster dashboard |
| TRAINYARD_STORAGE    | var/storage                              | shared path or URI    |
| DJANGO_SECRET_KEY    | random, generated once into var/secret_key | a long random string |
"""

import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from workers.storage import is_uri

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("TRAINYARD_VAR", BASE_DIR / "var")).resolve()


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DJANGO_DEBUG", False)

# --- secret key -----------------------------------------------------------------------------------
# DJANGO_SECRET_KEY, else the embedded default: a random key generated once into VAR_DIR/secret_key (mode
# 0600) by whichever process imports these settings first (`manage.py up` migrating, on a fresh clone) and
# read by every later one. Outside DEBUG a key anyone can know is refused: the example values below (the
# built-in key of earlier versions, .env.example's placeholder) and anything short.
KNOWN_EXAMPLE_SECRET_KEYS = frozenset({"trainyard-embedded-insecure-key-change-me",
                                       "change-me-to-a-long-random-string"})
MIN_SECRET_KEY_LENGTH = 32


def _generated_secret_key(path: Path) -> str:
    """The key in ``path``, written there first (randomly, mode 0600) when missing; two processes starting at
    once agree on one (a hard link never replaces a file another process put there first)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def _secret_key() -> str:
    key = os.environ.get("DJANGO_SECRET_KEY", "").strip()
    source = "DJANGO_SECRET_KEY"
    if not key:
        path = VAR_DIR / "secret_key"
        key, source = _generated_secret_key(path), str(path)
    if not DEBUG and (key in KNOWN_EXAMPLE_SECRET_KEYS or len(key) < MIN_SECRET_KEY_LENGTH):
        why = "is a published example value" if key in KNOWN_EXAMPLE_SECRET_KEYS else (
            f"is shorter than {MIN_SECRET_KEY_LENGTH} characters")
        raise ImproperlyConfigured(
            f"The secret key from {source} {why}: anyone could forge sessions with it. Set DJANGO_SECRET_KEY to a "
            "long random string (python -c 'import secrets; print(secrets.token_urlsafe(50))'), or unset it to "
            f"use the key generated once into {VAR_DIR / 'secret_key'}. DJANGO_DEBUG=true allows it for "
            "development only.")
    return key


SECRET_KEY = _secret_key()
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
    "backend.deployments",
    "backend.evaluations",
    "frontend",
    "axes",  # login lockout (backend/accounts/logins.py)
]

MIDDLEWARE = [
    "backend.project.health.RequestMetricsMiddleware",  # first: counts every answer, the ones below included
    # /healthz, /readyz, /metrics: answered before the host check and the HTTPS redirect (probes name the pod)
    "backend.project.health.OperatorEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "backend.project.middleware.RefuseNulMiddleware",  # a NUL in a query parameter: 400, not a database error
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "backend.project.urls"
WSGI_APPLICATION = "backend.project.wsgi.application"
ASGI_APPLICATION = "backend.project.asgi.application"

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
    # Per user, checked by the service functions (backend/experiments/throttles.py), so the API and the
    # dashboard's forms share one count: "<n>/<s|min|hour|day>".
    "DEFAULT_THROTTLE_RATES": {
        "runs": os.environ.get("TRAINYARD_THROTTLE_RUNS", "60/min"),
        "sweeps": os.environ.get("TRAINYARD_THROTTLE_SWEEPS", "20/min"),
        "datasets": os.environ.get("TRAINYARD_THROTTLE_DATASETS", "30/hour"),
        "tokens": os.environ.get("TRAINYARD_THROTTLE_TOKENS", "20/hour"),
    },
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

# --- cache (throttle counts) ------------------------------------------------------------------
# The throttles' history lives here: with several web processes it must be shared (Redis), or each
# process counts on its own. Unset: memory of this process (the embedded stack has one web process).
TRAINYARD_CACHE_URL = os.environ.get("TRAINYARD_CACHE_URL", "")
CACHES = {"default": (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": TRAINYARD_CACHE_URL}
    if TRAINYARD_CACHE_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"})}

# --- logins: lockout after repeated failures (django-axes; backend/accounts/logins.py) --------
AUTHENTICATION_BACKENDS = [
    "backend.accounts.logins.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("TRAINYARD_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("TRAINYARD_LOGIN_COOLOFF_MINUTES", "15")) / 60  # hours, as axes reads it
# Per (username, address): guessing one account's password from one address is limited, and nobody can
# lock another person out from elsewhere. The failures are kept in the database (shared by every process).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "frontend.logins.lockout_response"
# The client address is REMOTE_ADDR: behind nginx, uvicorn sets it from X-Forwarded-For
# (--proxy-headers --forwarded-allow-ips 127.0.0.1, infra/), so no header is trusted here.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

# --- fair share: per-team limits (backend/experiments/quotas.py) and bounds on every knob -------
# A team's own values (Team.max_*, set by an operator in /admin) replace these defaults.
TRAINYARD_TEAM_MAX_QUEUED_RUNS = int(os.environ.get("TRAINYARD_TEAM_MAX_QUEUED_RUNS", "20"))
TRAINYARD_TEAM_MAX_RUNNING_RUNS = int(os.environ.get("TRAINYARD_TEAM_MAX_RUNNING_RUNS", "8"))
TRAINYARD_TEAM_MAX_QUEUED_SWEEPS = int(os.environ.get("TRAINYARD_TEAM_MAX_QUEUED_SWEEPS", "5"))
TRAINYARD_TEAM_MAX_RUNNING_SWEEPS = int(os.environ.get("TRAINYARD_TEAM_MAX_RUNNING_SWEEPS", "2"))
TRAINYARD_TEAM_MAX_QUEUED_EVALUATIONS = int(os.environ.get("TRAINYARD_TEAM_MAX_QUEUED_EVALUATIONS", "20"))
TRAINYARD_TEAM_MAX_RUNNING_EVALUATIONS = int(os.environ.get("TRAINYARD_TEAM_MAX_RUNNING_EVALUATIONS", "4"))
# The most one run may ask for: set them to the cluster's largest node (a worker is one Ray actor).
TRAINYARD_MAX_NUM_WORKERS = int(os.environ.get("TRAINYARD_MAX_NUM_WORKERS", "64"))
TRAINYARD_MAX_CPUS_PER_WORKER = float(os.environ.get("TRAINYARD_MAX_CPUS_PER_WORKER", "32"))
TRAINYARD_MAX_GPUS_PER_WORKER = float(os.environ.get("TRAINYARD_MAX_GPUS_PER_WORKER", "8"))
# Retries of a run whose Ray job died (resources.max_failures; -1, for ever, is not allowed).
TRAINYARD_MAX_FAILURES = int(os.environ.get("TRAINYARD_MAX_FAILURES", "5"))
# A sweep: trials in all (num_samples times the grid) and side by side (max_concurrent_trials).
TRAINYARD_SWEEP_MAX_TRIALS = int(os.environ.get("TRAINYARD_SWEEP_MAX_TRIALS", "500"))
TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS = int(os.environ.get("TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS", "16"))

# --- behind the TLS proxy (infra/nginx/trainyard.conf) ----------------------------------------
# Off for `make up` on http://127.0.0.1. On: cookies only over HTTPS, HSTS, and the scheme nginx
# reports in X-Forwarded-Proto (uvicorn listens on 127.0.0.1 only, so the header comes from nginx).
TRAINYARD_BEHIND_TLS = _env_bool("TRAINYARD_BEHIND_TLS", False)
if TRAINYARD_BEHIND_TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("TRAINYARD_HSTS_SECONDS", str(365 * 24 * 3600)))
    # Subdomains and the browsers' preload list: only when every host of the domain serves HTTPS.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("TRAINYARD_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = _env_bool("TRAINYARD_HSTS_PRELOAD", False)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # the pages send the token from the template (hx-headers), never from JS

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
    "reconcile-deployments": {
        "task": "backend.deployments.tasks.reconcile_deployments",
        "schedule": float(os.environ.get("TRAINYARD_RECONCILE_SECONDS", "10")),
    },
    "reconcile-evaluations": {
        "task": "backend.evaluations.tasks.reconcile_evaluations",
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
# Python the Ray job's entrypoint runs with, by its path: Ray starts a job with the PATH of its own processes,
# which need not hold the venv. Default: this process's interpreter (the venv's), at the same path on every node
# of a `ray up` cluster and in the image (/opt/trainyard/.venv/bin/python).
TRAINYARD_JOB_PYTHON = os.environ.get("TRAINYARD_JOB_PYTHON") or sys.executable
# A run dispatching for longer than this without a Ray job is dispatched again by reconcile.
TRAINYARD_DISPATCH_GRACE_SECONDS = int(os.environ.get("TRAINYARD_DISPATCH_GRACE_SECONDS", "60"))
# A run's (or sweep's) ingestion token is refused this long after the run ended: time for the batches in
# flight when reconcile (or the job's own last event) ended it.
TRAINYARD_INGEST_GRACE_SECONDS = int(os.environ.get("TRAINYARD_INGEST_GRACE_SECONDS", "30"))
# A dataset uploaded as a zip (the Datasets page, POST /api/datasets): the most it may hold, unpacked.
TRAINYARD_DATASET_UPLOAD_MAX_BYTES = int(os.environ.get("TRAINYARD_DATASET_UPLOAD_MAX_BYTES", str(2 * 1024**3)))
# ... and the most entries it may hold, and the largest ratio unpacked:packed of a member or of the whole zip
# (applied to anything unpacking to over 1 MiB; images barely compress, a zip bomb compresses ~1000:1).
TRAINYARD_DATASET_UPLOAD_MAX_FILES = int(os.environ.get("TRAINYARD_DATASET_UPLOAD_MAX_FILES", "200000"))
TRAINYARD_DATASET_UPLOAD_MAX_RATIO = float(os.environ.get("TRAINYARD_DATASET_UPLOAD_MAX_RATIO", "100"))


def _shared_dataset_keys(text: str) -> tuple[str, ...]:
    """``TRAINYARD_SHARED_DATASETS``: storage keys (relative) every team may register datasets from, read-only.
    Not the root, not ``datasets`` itself (every team's data), not the service's own ``runs``/``sweeps``."""
    keys = []
    for raw in text.split(","):
        key = raw.strip().replace("\\", "/").rstrip("/")
        if not key:
            continue
        parts = Path(key).parts
        if key.startswith("/") or ".." in parts or not parts or parts == (".",) or parts[0] in ("runs", "sweeps") \
                or parts == ("datasets",):
            raise ImproperlyConfigured(
                f"TRAINYARD_SHARED_DATASETS: {key!r} is not a folder that may be shared: give keys relative to the "
                "storage root without '..', below the root, not 'datasets' itself, 'runs' or 'sweeps'.")
        keys.append(Path(key).as_posix())
    return tuple(keys)


# Folders on the storage every team may register datasets from (read-only), e.g. "shared/imagenet". Keys only:
# an outside folder is shared by linking it into the storage on a path storage (the link is the operator's).
TRAINYARD_SHARED_DATASETS = _shared_dataset_keys(os.environ.get("TRAINYARD_SHARED_DATASETS", ""))
# The most pixels an image may have (width x height): verification and the workers' image loader refuse a
# larger one before decoding it (a decompression bomb). The Ray job's environment carries this value.
TRAINYARD_MAX_IMAGE_PIXELS = int(os.environ.get("TRAINYARD_MAX_IMAGE_PIXELS", str(64 * 1024**2)))
# Hosts a spec may make workers fetch a checkpoint from (``init_cfg`` Pretrained URLs, ``load_from``):
# ``host``, ``host:port`` or ``*.example.com``, comma-separated. Empty (the default): no URL at all.
TRAINYARD_CHECKPOINT_URL_HOSTS: list[str] = [
    h.strip() for h in os.environ.get("TRAINYARD_CHECKPOINT_URL_HOSTS", "").split(",") if h.strip()]
# Modules a spec's custom_imports may name (seed 4.5): ``pkg.mod`` or ``pkg.*`` (a package and its submodules),
# comma-separated. The operator installs them on the web, Celery and Ray nodes; submit imports them to know the
# types they register, and each Ray job gets this list in its environment. Empty (the default): none.
TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST: list[str] = [
    m.strip() for m in os.environ.get("TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST", "").split(",") if m.strip()]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TRAINYARD_LOG_LEVEL", "INFO")},
    # axes announces itself at every start ("AXES: BEGIN ..."); its lockouts are warnings and stay
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- deployments (backend/deployments, workers/serve) -----------------------------------------
# Ray Serve's HTTP proxy as the web process reaches it. Empty: the Ray head's host (from RAY_ADDRESS) and the
# port Serve reports through the dashboard. The proxy must not be reachable from outside the cluster: the web
# process authenticates every predict and adds a per-deployment key the replica checks.
TRAINYARD_SERVE_URL = os.environ.get("TRAINYARD_SERVE_URL", "")
# The port a deploy job starts Serve's proxy on when Serve is not running yet (0: a free port on the head).
TRAINYARD_SERVE_PORT = int(os.environ.get("TRAINYARD_SERVE_PORT", "0"))
# One predict request: the most images, and the most bytes of them all together.
TRAINYARD_PREDICT_MAX_IMAGES = int(os.environ.get("TRAINYARD_PREDICT_MAX_IMAGES", "32"))
TRAINYARD_PREDICT_MAX_BYTES = int(os.environ.get("TRAINYARD_PREDICT_MAX_BYTES", str(16 * 1024**2)))
# The most one deployment may ask for.
TRAINYARD_DEPLOY_MAX_REPLICAS = int(os.environ.get("TRAINYARD_DEPLOY_MAX_REPLICAS", "8"))
TRAINYARD_DEPLOY_MAX_BATCH_SIZE = int(os.environ.get("TRAINYARD_DEPLOY_MAX_BATCH_SIZE", "256"))
# A team's deployments that may be active (pending, deploying, running) at once.
TRAINYARD_TEAM_MAX_DEPLOYMENTS = int(os.environ.get("TRAINYARD_TEAM_MAX_DEPLOYMENTS", "4"))
# A deploy job that has not brought its application up after this long is failed.
TRAINYARD_DEPLOY_TIMEOUT_SECONDS = int(os.environ.get("TRAINYARD_DEPLOY_TIMEOUT_SECONDS", "600"))

# --- operating: probes and metrics (backend/project/health.py, backend/project/metrics.py) -------------
# /readyz gives each check (database, broker, Ray's Jobs API) this long before it counts as failed (seconds).
TRAINYARD_READYZ_TIMEOUT_SECONDS = float(os.environ.get("TRAINYARD_READYZ_TIMEOUT_SECONDS", "2"))
# Who may read /metrics (and the worker's metrics port): with a token, only "Authorization: Bearer <token>";
# empty (the default), only a request from the loopback that no proxy forwarded. Everyone else gets a 404.
TRAINYARD_METRICS_TOKEN = os.environ.get("TRAINYARD_METRICS_TOKEN", "").strip()
# The Celery worker's metrics port (0: off, the default) and address (beyond the loopback only with a token).
TRAINYARD_WORKER_METRICS_PORT = int(os.environ.get("TRAINYARD_WORKER_METRICS_PORT", "0"))
TRAINYARD_WORKER_METRICS_ADDR = os.environ.get("TRAINYARD_WORKER_METRICS_ADDR", "127.0.0.1")
