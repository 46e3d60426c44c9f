"""Alert storms: windows whose flag rate exceeds a multiple of its
baseline (the model's training alert rate, or one an operator sets). A
storm raises one meta-alert instead of one alert per flagged row, and
ordinary alerts resume when a window falls back under the rule.

Pure: counts in, decisions out; no HTTP, no database. The service's alert
worker and its monitoring read the same rule.

>>> rule = StormRule(multiple=10, min_rows=50)
>>> rule.is_storm(rows=100, flagged=12, baseline=0.01)
True
>>> [w.event for w in storm_windows([(0, 100, 1), (60, 100, 40), (120, 100, 50), (180, 100, 2)],
...                                 0.01, rule)]
[None, 'start', None, 'end']
"""

from dataclasses import dataclass

__all__ = ["MIN_BASELINE", "StormRule", "StormWindow", "storm_windows"]

#: A baseline below this counts as this: a model that flagged nothing in
#: training would otherwise call any one flag a storm.
MIN_BASELINE = 1e-3


@dataclass(frozen=True)
class StormRule:
    """When a window is a storm.

    Parameters
    ----------
    multiple : float, default=10
        A window is a storm when its flag rate exceeds ``multiple`` times
        the baseline.
    min_rows : int, default=50
        Windows with fewer rows are never storms: two flags in three rows
        are not a flood.
    """

    multiple: float = 10.0
    min_rows: int = 50

    def threshold(self, baseline):
        """The flag rate above which a window is a storm."""
        return self.multiple * max(float(baseline), MIN_BASELINE)

    def is_storm(self, rows, flagged, baseline):
        """True when ``flagged`` of ``rows`` exceeds the rule."""
        return rows >= self.min_rows and flagged > self.threshold(baseline) * rows


@dataclass(frozen=True)
class StormWindow:
    """One window's counts and the rule's decision. ``event`` is
    ``"start"`` on the window a storm begins, ``"end"`` on the first quiet
    window after one, else None."""

    start: float
    rows: int
    flagged: int
    rate: float
    storm: bool
    event: str | None


def storm_windows(windows, baseline, rule, active=False):
    """The rule over ``(start, rows, flagged)`` windows in time order.

    Parameters
    ----------
    windows : iterable of (float, int, int)
    baseline : float
        The expected flag rate.
    rule : StormRule
    active : bool, default=False
        Whether a storm was on before the first window (so its end, not its
        start, is what the windows can show).

    Returns
    -------
    list of StormWindow
    """
    out = []
    for start, rows, flagged in windows:
        storm = rule.is_storm(rows, flagged, baseline)
        event = "start" if storm and not active else "end" if active and not storm else None
        out.append(StormWindow(start, rows, flagged, flagged / rows if rows else 0.0, storm, event))
        active = storm
    return out
