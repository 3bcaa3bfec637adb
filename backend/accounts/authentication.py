"""DRF authentication by personal API token (``Authorization: Bearer ty_...``)."""
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken, hash_token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] != self.keyword or not parts[1].startswith(ApiToken.PREFIX):
            return None  # not ours (e.g. a run's ingestion token is checked by its own view)
        try:
            token = ApiToken.objects.select_related("user").get(digest=hash_token(parts[1]), revoked_at=None)
        except ApiToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.") from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive.")
        now = timezone.now()
        # A write per request would contend with ingestion on SQLite; a minute's precision will do.
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
