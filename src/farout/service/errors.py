"""The service's errors: each carries its HTTP status and a short code, and
the app turns every one into the same JSON shape in one place::

    {"error": {"code": "invalid_row", "message": "...", "row": 3, "column": "amount"}}
"""

from ..exceptions import FaroutError

__all__ = [
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotFound",
    "ServiceError",
    "Unauthorized",
    "Unavailable",
]


class ServiceError(FaroutError):
    """An error with an HTTP status; ``fields`` go into the JSON body."""

    status = 500
    code = "error"

    def __init__(self, message, **fields):
        super().__init__(message)
        self.message = message
        self.fields = fields

    def body(self):
        return {"error": {"code": self.code, "message": self.message, **self.fields}}


class Invalid(ServiceError):
    status, code = 422, "invalid"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class Unavailable(ServiceError):
    """The database is locked, full or gone: nothing was answered as done,
    and the client may retry after ``retry_after`` seconds."""

    status, code = 503, "unavailable"
    retry_after = 1
