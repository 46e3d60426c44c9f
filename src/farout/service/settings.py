"""What a service is started with."""

from dataclasses import dataclass
from pathlib import Path

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
    alerts : AlertConfig, optional
        Webhook destinations (:func:`~farout.service.alerts.config.load_alerts`);
        without it no alert is sent.
    """

    registry: Path
    db: str = None
    busy_timeout: float = 5.0
    max_upload: int = 1 << 30
    alerts: object = None

    @property
    def db_url(self):
        return self.db or default_url(self.registry)
