"""``GET /v1/alerts``: the webhook deliveries with their status, attempts
and last error, newest first, and the recent alert storms."""

from typing import Annotated

from fastapi import Query

from . import outbox

__all__ = ["alert_routes"]


def alert_routes(app, db, reader):
    @app.get("/v1/alerts", tags=["alerts"])
    def alert_list(
        status: str | None = None,
        destination: str | None = None,
        kind: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        key=reader,
    ):
        """Every delivery is recorded: ``pending``, ``retrying`` (with its
        last error and next attempt), ``delivered``, ``failed`` (given up,
        never silently dropped) or ``suppressed`` (over a rate limit)."""
        return outbox.page(db, status, destination, kind, limit, cursor)
