"""Browser tests: headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, against the
ASGI app served by uvicorn in a thread on the test database (transactional: the server sees the
rows a test commits).

uvicorn rather than pytest-django's WSGI ``live_server``: the run page's server-sent events are an
async stream, which a WSGI server can only send once it has ended (DESIGN.md: live pages need ASGI).
A missing Chromium is installed with apt-get when possible (the Makefile's ``test`` target does it
first); otherwise the tests are skipped, or fail with ``CI=true``.
"""
import os
import shutil
import subprocess
import threading
import time

import pytest

from tests.support.ports import free_port

CHROMIUM = os.environ.get("TRAINYARD_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing(reason: str):
    if IN_CI:
        pytest.fail(reason + "; CI requires the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM) and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
                       shell=True, check=False, capture_output=True, timeout=600)
    if not os.path.exists(CHROMIUM):
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path):
    """Chromium for one test module.

    Playwright's sync API keeps an event loop running on the test thread while it is started, and
    Django refuses ORM calls under a running loop. So it lives only as long as a browser module, and
    meanwhile Django is told the (plain, synchronous) calls the tests make are fine.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=chromium_path, headless=True,
                                   args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
            yield b
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    p = context.new_page()
    yield p
    context.close()


@pytest.fixture
def server(transactional_db):
    """The ASGI app under uvicorn in a thread; yields its base URL."""
    import uvicorn

    from backend.project.asgi import application

    port = free_port()
    config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    srv.force_exit = True  # an open event stream would otherwise hold the shutdown
    thread.join(timeout=10)
    from django.db import connections

    connections.close_all()


@pytest.fixture
def cast(transactional_db):
    from tests.support.cast import Cast

    return Cast()
