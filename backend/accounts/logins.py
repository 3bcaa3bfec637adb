"""Password logins are locked out after repeated failures (django-axes); API tokens are not affected.

``AUTHENTICATION_BACKENDS`` puts ``LockoutBackend`` first: it refuses a locked-out (username, address)
before the password is checked. Axes counts the failures from Django's ``user_login_failed`` signal, so the
dashboard's login page and the admin's are both covered; token requests never call ``authenticate`` and
never count. Settings: ``TRAINYARD_LOGIN_FAILURE_LIMIT``, ``TRAINYARD_LOGIN_COOLOFF_MINUTES``.
"""
from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check, for web logins only.

    An ``authenticate()`` without a request is made in-process (the test client's ``login``, a shell): there
    is no client address to lock out, and axes would raise instead of answering. The next backend decides.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request, *args, **kwargs):
    """The login page saying the login is locked and for how long (429), for ``AXES_LOCKOUT_CALLABLE``.

    Axes calls it as ``(request, original_response, credentials)`` or ``(request, credentials)``; neither is
    needed here.
    """
    cooloff = get_cool_off(request)
    minutes = max(1, round(cooloff.total_seconds() / 60)) if cooloff else None
    context = {"form": AuthenticationForm(request), "locked_out": True, "cooloff_minutes": minutes,
               "failure_limit": settings.AXES_FAILURE_LIMIT}
    return render(request, "frontend/login.html", context, status=429)
