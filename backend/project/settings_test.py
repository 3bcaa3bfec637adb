"""Settings for the test suite: PostgreSQL as in production, a broker that never leaves memory.

The database is ``TEST_DATABASE_URL`` (default: the local PostgreSQL). With ``CI=true`` an
unreachable PostgreSQL is an error; elsewhere the suite falls back to SQLite and says so.
"""
import atexit
import os
import shutil
import socket
import sys
import tempfile
from urllib.parse import urlparse

_url = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), timeout=2):
            return True
    except OSError:
        return False


if _url.startswith("postgres") and not _reachable(_url):
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(f"PostgreSQL at {_url} is unreachable; CI requires it (set TEST_DATABASE_URL).")
    print(f"warning: PostgreSQL at {_url} unreachable; unit tests use SQLite", file=sys.stderr)
    _url = ""
if _url:
    os.environ["DATABASE_URL"] = _url
else:
    os.environ.pop("DATABASE_URL", None)
os.environ["CELERY_BROKER_URL"] = "memory://"

# The suite's own key, for this import only: the settings then neither read nor create var/secret_key, and the
# stacks the integration tests start in subprocesses still generate theirs as `manage.py up` does.
TEST_SECRET_KEY = "trainyard-test-suite-key-" + "0123456789abcdef" * 3
# And each pytest process (an xdist worker) a var/ of its own, removed when it exits: what a test writes through
# the default settings (storage, static files) never meets another worker's, nor the checkout's var/ of
# `make up`. Also for this import only: the stacks started in subprocesses name their own TRAINYARD_VAR.
_outer = {name: os.environ.get(name) for name in ("DJANGO_SECRET_KEY", "TRAINYARD_VAR")}
os.environ["DJANGO_SECRET_KEY"] = TEST_SECRET_KEY
if _outer["TRAINYARD_VAR"] is None:
    os.environ["TRAINYARD_VAR"] = tempfile.mkdtemp(prefix=f"trainyard-test-var-{os.getpid()}-")
    atexit.register(shutil.rmtree, os.environ["TRAINYARD_VAR"], ignore_errors=True)
try:
    from .settings import *  # noqa: E402,F403
finally:
    for _name, _value in _outer.items():
        if _value is None:
            os.environ.pop(_name, None)
        else:
            os.environ[_name] = _value

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# Schemathesis (and a suite submitting runs in a loop) would meet the per-user submission rates: here they
# are out of reach. tests/security/test_fair_share.py sets real ones with override_settings.
REST_FRAMEWORK = {**REST_FRAMEWORK,  # noqa: F405
                  "DEFAULT_THROTTLE_RATES": {scope: "1000000/min"
                                             for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}}  # noqa: F405

# One test database per pytest process, so that suites running side by side (developers, CI, a
# benchmark) never drop each other's database.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": f"test_trainyard_{os.getpid()}"}  # noqa: F405
