"""What a service is started with."""

from dataclasses import dataclass
from pathlib import Path

from ..exceptions import InputError
from .database import default_url

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Settings of one service.

    Parameters
    ----------
    registry : path
        The folder of model files; it also holds the default SQLite
        database, ``farout.db``.
    db : str, optional
        A SQLAlchemy URL; default: SQLite in ``registry``.
    busy_timeout : float, default=5.0
        Seconds a write waits on a database lock before answering 503.
    max_upload : int, default=1 GiB
        Largest model file ``POST /v1/models`` takes, in bytes.
    max_body : int, default=64 MiB
        Largest body any other request may carry, in bytes (10,000 rows of
        a few hundred bytes each fit well within it); a larger one gets 413
        before it is read.
    alerts : AlertConfig, optional
        Webhook destinations (:func:`~farout.service.alerts.config.load_alerts`);
        without it no alert is sent.
    """

    registry: Path
    db: str = None
    busy_timeout: float = 5.0
    max_upload: int = 1 << 30
    max_body: int = 64 << 20
    alerts: object = None

    def __post_init__(self):
        for name in ("max_body", "max_upload"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(
                    f"{name} must be a whole number of bytes >= 1, got {value!r} "
                    f"(--{name.replace('_', '-')})."
                )

    @property
    def db_url(self):
        return self.db or default_url(self.registry)
