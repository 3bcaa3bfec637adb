"""Password logins are locked out after repeated failures (django-axes); API tokens are not affected.

``AUTHENTICATION_BACKENDS`` puts ``LockoutBackend`` first: it refuses a locked-out (username, address)
before the password is checked. Axes counts the failures from Django's ``user_login_failed`` signal, so the
dashboard's login page and the admin's are both covered; token requests never call ``authenticate`` and
never count. The page a locked-out login gets is the dashboard's (``AXES_LOCKOUT_CALLABLE``). Settings:
``TRAINYARD_LOGIN_FAILURE_LIMIT``, ``TRAINYARD_LOGIN_COOLOFF_MINUTES``.
"""
from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check, for web logins only.

    An ``authenticate()`` without a request is made in-process (the test client's ``login``, a shell): there
    is no client address to lock out, and axes would raise instead of answering. The next backend decides.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
