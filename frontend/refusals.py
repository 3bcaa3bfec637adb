"""How a form page answers a submit the service refused for now (a rate limit, a team's limit): 429.

Refusals the user fixes by changing the form keep the page's own status; a 429 says "not now", and a rate
limit's ``Retry-After`` says until when, exactly as the REST API answers the same refusal.
"""


def refused(response, err):
    """``response`` (the form page, showing ``err``'s message) with the status of a wait-it-out refusal.

    Args:
        response: The rendered form page.
        err: The ``ServiceError`` the service raised, or None.

    Returns:
        The same response: status 429 and ``Retry-After`` (seconds) for a throttle, 429 for a team's limit.
    """
    if err is not None and err.status == 429:
        response.status_code = 429
        if getattr(err, "wait", None):
            response["Retry-After"] = str(err.wait)
    return response


def validation_problems(err) -> str:
    """A DRF ``ValidationError`` of a form's serializer as one line for a flash message: ``field: reason; ...``."""
    detail = err.detail if isinstance(err.detail, dict) else {"form": err.detail}
    return "; ".join(f"{k}: {' '.join(map(str, v if isinstance(v, list) else [v]))}" for k, v in detail.items())
