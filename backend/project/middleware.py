"""Request hygiene every view relies on, before any view runs."""
from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse


class RefuseNulMiddleware:
    """Answer 400 to a request whose query string holds a NUL character.

    PostgreSQL text cannot hold NUL: a filter such as ``/api/runs?q=%00`` reached the database and failed
    there with a 500 (schemathesis found it). No parameter of ours has a use for it, so it is refused up front,
    naming the parameter, for every endpoint and page at once.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = next((key for key, values in request.GET.lists()
                    if "\x00" in key or any("\x00" in v for v in values)), None)
        if bad is not None:
            shown = bad.replace("\x00", "\\0")
            message = f"the query parameter {shown!r} holds a NUL character"
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)
