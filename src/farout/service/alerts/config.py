"""The alerts file an operator gives ``farout serve --alerts``: TOML (or
JSON, by its extension) listing the webhook destinations and how alerts
are grouped, held in storms and retried. Checked whole at start; an error
names the field (``destinations[1].rate_limit``) and says what it takes.

.. code-block:: toml

    base_url = "https://farout.example.com"
    entity = "account"
    window = "1m"

    [storm]
    multiple = 10

    [[destinations]]
    name = "fraud-team"
    url = "https://hooks.slack.com/services/T000/B000/XXXX"
    min_severity = "high"
    rate_limit = "10/1h"
"""

import json
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ...exceptions import InputError

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

__all__ = [
    "AlertConfig",
    "AlertConfigError",
    "Destination",
    "RateLimit",
    "Retry",
    "Storm",
    "load_alerts",
    "parse_duration",
]


class AlertConfigError(InputError):
    """The alerts file is not one the service can run with."""


_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNIT = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value):
    """Seconds of ``value``: a number of seconds or text such as ``500ms``,
    ``30s``, ``1m``, ``2h`` or ``1d``."""
    if isinstance(value, bool):
        raise ValueError("a duration is seconds or text such as 30s, 1m or 1h, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        found = _SPAN.fullmatch(str(value).strip().lower())
        if not found:
            raise ValueError(f"{value!r} is not a duration such as 500ms, 30s, 1m, 2h or 1d")
        seconds = float(found[1]) * _UNIT[found[2]]
    if not 0 < seconds <= 366 * 86400:
        raise ValueError(f"{value!r} must be more than 0 and at most 366d")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _rate(value):
    # "10/1h" is the short form of {count = 10, period = "1h"}
    if isinstance(value, str):
        count, slash, period = value.partition("/")
        if not slash or not count.strip().isdigit():
            raise ValueError(f"{value!r} is not a rate such as 10/1h (alerts per period)")
        return {"count": int(count), "period": period}
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    """At most ``count`` alerts per ``period`` to a destination; the rest
    are recorded as suppressed."""

    count: int = Field(ge=1, le=1_000_000)
    period: Duration


class Destination(_Strict):
    """A webhook that takes Slack's JSON (an incoming webhook, or anything
    that reads ``text`` and ``blocks``)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str
    min_severity: str | None = Field(None, min_length=1, max_length=32)
    rate_limit: Annotated[RateLimit | None, BeforeValidator(_rate)] = None

    @field_validator("url")
    @classmethod
    def _http(cls, url):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} must be an http:// or https:// address with a host")
        return url


class Storm(_Strict):
    """A window whose flag rate exceeds ``multiple`` times the baseline is a
    storm: one meta-alert, no single alerts, until a window is quiet."""

    multiple: float = Field(10.0, gt=1)
    baseline: float | None = Field(None, gt=0, lt=1)
    min_rows: int = Field(50, ge=1)


class Retry(_Strict):
    """Each failed delivery waits ``backoff``, doubled each time up to
    ``max_backoff``; after ``max_attempts`` it is recorded as failed."""

    max_attempts: int = Field(6, ge=1, le=100)
    backoff: Duration = 2.0
    max_backoff: Duration = 300.0
    timeout: Duration = 5.0


class AlertConfig(_Strict):
    """What the alert worker runs with (see the module's example)."""

    destinations: list[Destination] = Field(min_length=1)
    base_url: str | None = None
    entity: str | None = Field(None, min_length=1, max_length=200)
    window: Duration = 60.0
    settle: Duration = 2.0
    poll: Duration = 1.0
    storm: Storm = Storm()
    retry: Retry = Retry()

    @field_validator("base_url")
    @classmethod
    def _base(cls, url):
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} must be an http:// or https:// address with a host")
            url = url.rstrip("/")
        return url

    @field_validator("destinations")
    @classmethod
    def _unique(cls, destinations):
        names = [d.name for d in destinations]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"destination names must differ; {twice} appear more than once")
        return destinations

    def with_base_url(self, url):
        """The config with ``base_url`` set where the file left it out."""
        return self if self.base_url else self.model_copy(update={"base_url": url.rstrip("/")})


_TAKES = {
    (): "base_url, entity, window, settle, poll, [storm], [retry] and [[destinations]]",
    ("destinations",): "name, url, min_severity and rate_limit",
    ("storm",): "multiple, baseline and min_rows",
    ("retry",): "max_attempts, backoff, max_backoff and timeout",
    ("rate_limit",): "count and period",
}


def _where(loc):
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _message(error):
    loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
    where = _where(loc) or "the file"
    if error["type"] == "extra_forbidden":
        parent = tuple(p for p in loc[:-1] if not isinstance(p, int))[-1:]
        return f"{where}: unknown field; it takes {_TAKES.get(parent, _TAKES[()])}"
    if error["type"] == "missing":
        if loc == ("destinations",):
            return f"{where}: missing; list at least one [[destinations]] with a name and a url"
        return f"{where}: missing; every destination needs a name and a url"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"


def load_alerts(path):
    """The :class:`AlertConfig` in ``path`` (``.toml`` or ``.json``).

    Raises
    ------
    AlertConfigError
        The file is missing, unreadable or wrong; the message names the
        field and says what it takes.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AlertConfigError(f"cannot read the alerts file {path}: {error}") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise AlertConfigError(f"the alerts file {path} is not valid {kind}: {error}") from None
    if not isinstance(raw, dict):
        raise AlertConfigError(f"the alerts file {path} must hold a table (an object) at its top")
    try:
        return AlertConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(_message(e) for e in error.errors())
        raise AlertConfigError(f"the alerts file {path}: {problems}") from None
