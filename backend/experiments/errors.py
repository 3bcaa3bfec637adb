"""What the service functions raise instead of answering HTTP: the API and the dashboard turn a ``ServiceError``
into its ``status`` (400, 404, 409, 429) with the message and the per-field ``errors``."""


class ServiceError(Exception):
    """A request the service refuses; ``errors`` names the fields (and settings) at fault."""

    status = 400

    def __init__(self, message: str, *, errors: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class Conflict(ServiceError):
    """The object is in a state that does not allow the change (an ended run cancelled again)."""

    status = 409


class DispatchRefused(ServiceError):
    """What a stored run or sweep cannot be dispatched with (a dataset outside its team's area): dispatch
    fails it with this message instead of submitting a job."""
