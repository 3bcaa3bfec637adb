"""Rate limits on what costs the service work: submitting runs and sweeps, registering datasets, making
API tokens.

The service functions check them (``check(user, scope)``), so the REST API and the dashboard's forms are
limited alike and by one count. The rates are DRF's: ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``
(``"60/min"``; each from a ``TRAINYARD_THROTTLE_*`` setting) and the history lives in Django's cache
(``default``), which must be shared by the web processes (Redis, ``TRAINYARD_CACHE_URL``) for the rate
to hold across them. A refusal is ``RateLimited`` (429 with ``Retry-After``).
"""
from __future__ import annotations

import math

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from .errors import ServiceError

# scope -> the setting that sets its rate (named in refusals)
SCOPES = {
    "runs": "TRAINYARD_THROTTLE_RUNS",
    "sweeps": "TRAINYARD_THROTTLE_SWEEPS",
    "datasets": "TRAINYARD_THROTTLE_DATASETS",
    "tokens": "TRAINYARD_THROTTLE_TOKENS",
}
_WHAT = {"runs": "runs submitted", "sweeps": "sweeps submitted", "datasets": "datasets registered",
         "tokens": "API tokens made"}


class RateLimited(ServiceError):
    """Too many submissions of one kind in the rate's period: 429; ``wait`` seconds says when to retry."""

    status = 429

    def __init__(self, message: str, *, wait: float, errors: list[dict] | None = None):
        super().__init__(message, errors=errors)
        self.wait = max(1, math.ceil(wait))


class UserScopeThrottle(SimpleRateThrottle):
    """DRF's rate throttle, per user and scope.

    The rate is read at each check from ``api_settings`` (not once at import, as ``SimpleRateThrottle``
    does), so a changed setting (``override_settings`` in tests) applies at once.
    """

    def __init__(self, scope: str, user):
        self.scope, self.user = scope, user
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str | None:
        return (api_settings.DEFAULT_THROTTLE_RATES or {}).get(self.scope)

    def get_cache_key(self, request, view) -> str | None:
        if self.user is None or not self.user.is_authenticated:
            return None  # the access check refuses them first
        return self.cache_format % {"scope": self.scope, "ident": self.user.pk}


def check(user, scope: str) -> None:
    """Count one ``scope`` action of ``user``; refuse it when the user is over the scope's rate.

    Raises:
        RateLimited: naming the rate, the setting and when to try again.
    """
    throttle = UserScopeThrottle(scope, user)
    if throttle.allow_request(None, None):
        return
    wait = throttle.wait() or 1
    message = (f"Too many {_WHAT[scope]}: at most {throttle.rate} per user ({SCOPES[scope]}); "
               f"try again in {math.ceil(wait)} s.")
    raise RateLimited(message, wait=wait, errors=[{"field": "throttle", "message": message,
                                                   "setting": SCOPES[scope]}])
