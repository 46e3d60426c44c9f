"""Time of day and day of week as context: "80°F is fine in the afternoon,
not at 4 a.m.". Each is a position on a circle, given as its sine and
cosine, so 23:59 sits next to 00:00 and Sunday next to Monday.

- ``hour_sin``, ``hour_cos``: the time of day (hours, minutes and seconds);
- ``weekday_sin``, ``weekday_cos``: the time of week, Monday 00:00 at 0.

Each row's features come from its own time alone, so the online path and
the batch path are one function. These are derived context: the stream's
drift tests do not watch them (time moving on is no drift).
"""

import numpy as np
import pandas as pd

from ..exceptions import InputError, shown

__all__ = ["CalendarFeatures"]

_DAY = 86_400.0


class CalendarFeatures:
    """Hour of day and day of week, encoded on circles (sin and cos).

    Parameters
    ----------
    tz : str or None, default=None
        The time zone the hours are read in (``"Europe/Paris"``); None
        reads them in UTC (times without a zone are taken as UTC).

    Examples
    --------
    >>> import pandas as pd
    >>> f = CalendarFeatures()
    >>> f.transform(pd.DataFrame(index=range(1)), times=["2026-01-05 06:00"]).round(3).values.tolist()
    [[1.0, 0.0, 0.223, 0.975]]
    """

    needs_times = True
    needs_entities = False

    def __init__(self, *, tz=None):
        self.tz = tz
        if tz is not None:
            try:
                pd.Timestamp(0, tz="UTC").tz_convert(tz)
            except (TypeError, ValueError, KeyError) as exc:
                raise InputError(
                    f"tz must be a time zone such as 'Europe/Paris', got {shown(tz)} ({exc})."
                ) from None

    def names(self, columns):
        """The feature names (the same whatever the input columns)."""
        return ["hour_sin", "hour_cos", "weekday_sin", "weekday_cos"]

    def online(self, values, *, seconds=None, rows=None, entities=None):
        """The features of rows at ``seconds`` since the epoch (UTC)."""
        return self._encode(np.asarray(seconds, dtype=np.float64))

    def transform(self, frame, *, times=None, entities=None):
        """The features of a whole table's ``times``."""
        stamps = pd.to_datetime(pd.Index(times), utc=True)
        seconds = np.asarray((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1))
        return pd.DataFrame(self._encode(seconds), columns=self.names(()), index=frame.index)

    def _encode(self, seconds):
        if self.tz is not None:  # the local clock: UTC plus each instant's own offset
            utc = pd.to_datetime(seconds, unit="s")
            local = utc.tz_localize("UTC").tz_convert(self.tz).tz_localize(None)
            seconds = seconds + np.asarray((local - utc) / pd.Timedelta(seconds=1))
        day = np.mod(seconds, _DAY) / _DAY
        # 1970-01-01 was a Thursday: Monday 00:00 is 3 days before it
        week = np.mod(seconds + 3 * _DAY, 7 * _DAY) / (7 * _DAY)
        turn = 2 * np.pi
        return np.column_stack(
            [np.sin(turn * day), np.cos(turn * day), np.sin(turn * week), np.cos(turn * week)]
        )

    def get_state(self):
        return {"meta": {"tz": self.tz}, "arrays": {}}

    @classmethod
    def from_state(cls, state):
        return cls(tz=state["meta"]["tz"])
