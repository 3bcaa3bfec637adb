"""The login page a locked-out password login gets (django-axes' ``AXES_LOCKOUT_CALLABLE``); the lockout
itself is ``backend/accounts/logins.py``."""
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


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
