"""Per-entity aggregates (per customer, device or host): how a row compares
with its own entity's past.

For each row of entity e, with the stream's columns v:

- ``entity_count``: e's events in the last ``span``, this row included
  (capped at ``max_events``);
- ``entity_since``: the time since e's event before this one, at most the
  horizon H (``idle`` if given, else ``span``); H for a new entity;
- ``{v}_entity_ratio``: v over e's running mean of v before this row (1
  when there is none, or when that mean is not positive): for positive
  columns such as amounts and counts (``ratio=False`` leaves it out, for
  columns centred on 0, where it explodes);
- ``{v}_entity_z``: v minus that mean, over e's running standard deviation
  before this row (0 with fewer than 5 earlier events, or no spread).

The running mean and deviation weigh all of e's earlier events alike, or,
with ``half_life``, halve an event's weight every ``half_life`` of e's own
events. Time is the rows' time when ``span`` is a time span (``"24h"``),
else the row number in the stream (``span=1000``: the last 1,000 rows).

**Bounded memory.** An entity holds its running moments, its last time and
at most ``max_events`` event times. At most ``max_entities`` entities are
held: a new one pushes out the least recently seen (LRU), and an entity
whose last event is more than ``idle`` before the current row is dropped.
An evicted entity's next row sees what a new entity sees (count 1,
``entity_since`` = H, ratio 1, z 0). Which entities are evicted depends on
the rows alone: e is fresh iff ``max_entities`` other entities were seen
since its last event, or that event is older than ``idle``.

Two paths agree (tested): :meth:`EntityFeatures.online`, row by row with the
state above, and :meth:`EntityFeatures.transform`, pandas' groupby and
rolling on a whole table (which applies ``idle`` but not the
``max_entities`` limit, so they agree while that is not reached).
"""

import math
import warnings
from collections import OrderedDict, deque

import numpy as np
import pandas as pd

from ..exceptions import InputError, ModelFileError, shown

__all__ = ["EntityFeatures"]

# A z-score or ratio beyond this says all there is to say; it also keeps
# the stream's squares finite.
_CLIP = 1e12

# Earlier events a z-score needs: the spread of two or three values is
# too rough to divide by (their sd is often near 0).
_MIN_EVENTS = 5


def _span(value, name):
    """(seconds or rows, is a time) of a span parameter."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 1:
            raise InputError(f"{name} must be a number of rows >= 1 or a time span, got {value}.")
        return float(value), False
    if isinstance(value, (str, pd.Timedelta, np.timedelta64)):
        try:
            with warnings.catch_warnings():  # pandas' deprecation of "7d": not the user's
                warnings.simplefilter("ignore")
                seconds = pd.Timedelta(value).total_seconds()
        except (ValueError, TypeError):
            seconds = float("nan")
        if seconds > 0:
            return seconds, True
    raise InputError(
        f"{name} must be a number of rows or a positive time span such as '24h', "
        f"got {shown(value)}."
    )


class EntityFeatures:
    """Aggregates of each row's entity: event count, time since the last
    event, value against the entity's own running mean and spread.

    Parameters
    ----------
    span : int or time span, default=1000
        The window of ``entity_count``: rows of the stream, or a time span
        such as ``"24h"`` (the rows' times are then needed).
    idle : int, time span or None, default=None
        Entities unseen for longer than this (of the same kind as ``span``)
        are forgotten. Also the horizon of ``entity_since``.
    max_entities : int, default=100_000
        Entities held at most; the least recently seen goes first.
    max_events : int, default=64
        Event times held per entity: ``entity_count`` reads at most this.
    half_life : float or None, default=None
        The entity's own events after which an event's weight in its
        running mean and deviation has halved; None weighs all alike.
    ratio : bool, default=True
        Give each value's ratio to the entity's mean (for positive columns).

    Examples
    --------
    >>> import numpy as np
    >>> f = EntityFeatures(span=3)
    >>> out = f.online(np.array([[10.0], [20.0], [30.0]]), rows=np.arange(3),
    ...                entities=["a", "a", "b"])
    >>> out[1].tolist()            # count, since, ratio, z of a's second row
    [2.0, 1.0, 2.0, 0.0]
    """

    needs_entities = True

    def __init__(
        self,
        *,
        span=1000,
        idle=None,
        max_entities=100_000,
        max_events=64,
        half_life=None,
        ratio=True,
    ):
        self.span, self.idle, self.ratio = span, idle, bool(ratio)
        self.max_entities, self.max_events, self.half_life = max_entities, max_events, half_life
        self._span_s, timed = _span(span, "span")
        self._idle_s = None
        if idle is not None:
            self._idle_s, idle_timed = _span(idle, "idle")
            if idle_timed != timed:
                raise InputError(
                    f"idle ({shown(idle)}) and span ({shown(span)}) must both be rows or "
                    "both time spans."
                )
        self.needs_times = timed
        for name in ("max_entities", "max_events"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name} must be a whole number >= 1, got {shown(value)}.")
        if half_life is not None and (
            not isinstance(half_life, (int, float)) or isinstance(half_life, bool) or half_life <= 0
        ):
            raise InputError(
                f"half_life must be a positive number or None, got {shown(half_life)}."
            )
        self._factor = 1.0 if half_life is None else 0.5 ** (1.0 / half_life)
        self._horizon = self._idle_s if self._idle_s is not None else self._span_s
        # key -> [last time, weight, earlier events, means, m2s, deque of event
        # times];
        # least recently seen first
        self._entities = OrderedDict()

    @property
    def n_entities_(self):
        """Entities held now."""
        return len(self._entities)

    def names(self, columns):
        """The feature names, in order, for input ``columns``."""
        out = ["entity_count", "entity_since"]
        for c in columns:
            out += [f"{c}_entity_ratio", f"{c}_entity_z"] if self.ratio else [f"{c}_entity_z"]
        return out

    # ----------------------------------------------------- online path
    def online(self, values, *, seconds=None, rows=None, entities=None):
        """The features of rows ``values`` (n x p) in order, each from the
        entity's state before it; then the row joins that state. ``entities``
        are compared as text; ``seconds`` (the rows' times) or ``rows``
        (their numbers in the stream) are the clock, as ``span`` says."""
        clock = seconds if self.needs_times else rows
        values = np.asarray(values, dtype=np.float64)
        n, p = values.shape
        each = 2 if self.ratio else 1
        out = np.empty((n, 2 + each * p))
        held, span, idle, horizon = self._entities, self._span_s, self._idle_s, self._horizon
        cap, factor, events = self.max_entities, self._factor, self.max_events
        times = np.asarray(clock, dtype=np.float64).tolist()
        keys = map(str, entities)
        for i, (key, t, x) in enumerate(zip(keys, times, values.tolist(), strict=True)):
            if idle is not None:  # the least recently seen go first when idle
                while held:
                    oldest = next(iter(held))
                    if t - held[oldest][0] <= idle:
                        break
                    del held[oldest]
            state = held.get(key)
            if state is None:
                if len(held) >= cap:
                    held.popitem(last=False)
                state = held[key] = [None, 0.0, 0, [0.0] * p, [0.0] * p, deque(maxlen=events)]
            else:
                held.move_to_end(key)
            last, weight, count, means, m2s, ring = state
            edge = t - span
            while ring and ring[0] <= edge:
                ring.popleft()
            ring.append(t)
            row = out[i]
            row[0] = len(ring)
            row[1] = horizon if last is None else min(t - last, horizon)
            grown = weight * factor + 1.0
            for j, v in enumerate(x):
                mean, at = means[j], 2 + each * j
                if each == 2:
                    ok = weight > 0.0 and mean > 0.0
                    row[at] = min(max(v / mean, -_CLIP), _CLIP) if ok else 1.0
                    at += 1
                var = m2s[j] / weight if weight > 0.0 else 0.0
                sd = math.sqrt(var) if var > 0.0 else 0.0
                if count >= _MIN_EVENTS and sd > 1e-12 * max(1.0, abs(mean)):
                    row[at] = min(max((v - mean) / sd, -_CLIP), _CLIP)
                else:
                    row[at] = 0.0
                # West's weighted update, the old weights aged by the factor
                delta = v - mean
                mean += delta / grown
                means[j] = mean
                m2s[j] = m2s[j] * factor + delta * (v - mean)
            state[0], state[1], state[2] = t, grown, count + 1
        return out

    # ------------------------------------------------------ batch path
    def transform(self, frame, *, times=None, entities=None):
        """The features of a whole table in order (pandas' groupby and
        rolling): the reference the online path is tested against."""
        n = len(frame)
        if self.needs_times:
            stamps = pd.to_datetime(pd.Index(times), utc=True)
            clock = pd.Series((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1))
        else:
            clock = pd.Series(np.arange(n, dtype=np.float64))
        key = pd.Series(np.asarray(entities).astype(str))
        groups = [key]
        if self._idle_s is not None:  # an idle gap starts the entity afresh
            gap = clock.groupby(key, sort=False).diff()
            groups.append((gap > self._idle_s).groupby(key, sort=False).cumsum())
        by = pd.Series(pd.MultiIndex.from_arrays(groups).factorize()[0])
        columns = [str(c) for c in frame.columns]
        out = pd.DataFrame(index=range(n))
        on = pd.DataFrame(
            {"t": pd.to_datetime(clock * 1e9, unit="ns"), "one": 1.0, "by": by.to_numpy()}
        )
        # the result comes by entity, each entity's rows in order (its index
        # is the times, so it is put back through the stable sort)
        order = np.argsort(by.to_numpy(), kind="stable")
        window = pd.Timedelta(seconds=self._span_s)
        counts = np.empty(n)
        counts[order] = on.groupby("by").rolling(window, on="t")["one"].sum().to_numpy()
        out["entity_count"] = np.minimum(counts, self.max_events)
        since = clock.groupby(by, sort=False).diff()
        out["entity_since"] = since.fillna(self._horizon).clip(upper=self._horizon).to_numpy()
        earlier = clock.groupby(by, sort=False).cumcount()  # the entity's earlier events
        for c in frame.columns:
            v = pd.Series(frame[c].to_numpy(dtype=np.float64))
            g = v.groupby(by, sort=False)
            if self.half_life is None:
                mean = g.transform(lambda s: s.expanding().mean().shift())
                sd = g.transform(lambda s: s.expanding().std(ddof=0).shift())
            else:
                h = self.half_life
                mean = g.transform(lambda s, h=h: s.ewm(halflife=h).mean().shift())
                sd = g.transform(lambda s, h=h: s.ewm(halflife=h).std(bias=True).shift())
            ratio = np.where((earlier > 0) & (mean > 0), v / mean.where(mean > 0, 1.0), 1.0)
            tiny = 1e-12 * np.maximum(1.0, mean.abs())
            z = np.where(
                (earlier >= _MIN_EVENTS) & (sd > tiny), (v - mean) / sd.where(sd > tiny, 1.0), 0.0
            )
            if self.ratio:
                out[f"{c}_entity_ratio"] = np.clip(ratio, -_CLIP, _CLIP)
            out[f"{c}_entity_z"] = np.clip(z, -_CLIP, _CLIP)
        out = out[self.names(columns)]
        out.index = frame.index
        return out.astype(np.float64)

    # ------------------------------------------------------------ state
    def get_state(self):
        meta = {
            "span": self.span if isinstance(self.span, (int, str)) else str(self.span),
            "idle": self.idle if isinstance(self.idle, (int, str, type(None))) else str(self.idle),
            "max_entities": int(self.max_entities),
            "max_events": int(self.max_events),
            "half_life": self.half_life,
            "ratio": self.ratio,
        }
        held = self._entities
        keys = [k.encode("utf-8") for k in held]
        p = len(next(iter(held.values()))[3]) if held else 0
        rings = np.full((len(held), self.max_events), np.nan)
        for i, state in enumerate(held.values()):
            rings[i, : len(state[5])] = state[5]
        arrays = {
            # keys as UTF-8 bytes and their ends (no object arrays: no pickle)
            "key_bytes": np.frombuffer(b"".join(keys), dtype=np.uint8).copy(),
            "key_ends": np.cumsum([len(k) for k in keys], dtype=np.int64),
            "last": np.array([s[0] for s in held.values()], dtype=np.float64),
            "weight": np.array([s[1] for s in held.values()], dtype=np.float64),
            "count": np.array([s[2] for s in held.values()], dtype=np.int64),
            "means": np.array([s[3] for s in held.values()], dtype=np.float64).reshape(-1, p),
            "m2s": np.array([s[4] for s in held.values()], dtype=np.float64).reshape(-1, p),
            "rings": rings,
        }
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_state(cls, state):
        meta, arrays = state["meta"], state["arrays"]
        features = cls(
            span=meta["span"],
            idle=meta["idle"],
            max_entities=meta["max_entities"],
            max_events=meta["max_events"],
            half_life=meta["half_life"],
            ratio=meta.get("ratio", True),
        )
        data = np.asarray(arrays["key_bytes"], dtype=np.uint8).tobytes()
        ends = np.asarray(arrays["key_ends"], dtype=np.int64)
        starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
        last, weight, count = arrays["last"], arrays["weight"], arrays["count"]
        means, m2s, rings = arrays["means"], arrays["m2s"], arrays["rings"]
        if len({len(a) for a in (ends, last, weight, count, means, m2s, rings)}) != 1:
            raise ModelFileError("the entity features' state is inconsistent; it may be damaged.")
        held = features._entities
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            ring = rings[i][~np.isnan(rings[i])].tolist()
            held[data[a:b].decode("utf-8")] = [
                float(last[i]),
                float(weight[i]),
                int(count[i]),
                means[i].tolist(),
                m2s[i].tolist(),
                deque(ring, maxlen=features.max_events),
            ]
        return features
