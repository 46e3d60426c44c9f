"""The gates a retrained model must pass before it is offered as
challenger (:mod:`farout.retraining`): stated in a small TOML or JSON file,
or as keyword arguments, checked at the door with errors that name the
field.

==========================  =======  ==========================================
field                       default  what it bounds
==========================  =======  ==========================================
``min_rows``                200      rows the new model is fitted on, at least
``min_precision``           off      precision of the new model's alerts on the
                                     held-out rows analysts labelled, at least
``max_alert_rate_change``   0.03     change of the alert rate on the held-out
                                     rows, new against champion, as a fraction
                                     (0.03 = 3 percentage points), at most
``max_score_drift``         0.2      Kolmogorov-Smirnov statistic between the
                                     two models' scores on the held-out rows,
                                     at most
``min_labelled``            30       labelled held-out alerts of the new model
                                     that ``min_precision`` needs to be judged;
                                     with fewer it is skipped
==========================  =======  ==========================================

A field set to ``null`` (JSON) or ``false`` turns its gate off, except
``min_rows`` and ``min_labelled``, which always hold.

>>> make_gates({"min_precision": 0.8, "max_score_drift": 0.1})
Gates(min_rows=200, min_precision=0.8, max_alert_rate_change=0.03, max_score_drift=0.1, min_labelled=30)
>>> make_gates({"max_drift": 0.1})
Traceback (most recent call last):
...
farout.gates.GateError: the gates: unknown field 'max_drift'; the fields are min_rows, min_precision, max_alert_rate_change, max_score_drift, min_labelled.
"""

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from .exceptions import InputError

__all__ = ["GATE_FIELDS", "GateError", "GateResult", "Gates", "make_gates", "read_gates"]


class GateError(InputError):
    """A gate stated wrongly; ``field`` names it (None for the whole file)."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Gates:
    """The limits a retrained model is held to (see the module's table)."""

    min_rows: int = 200
    min_precision: float | None = None
    max_alert_rate_change: float | None = 0.03
    max_score_drift: float | None = 0.2
    min_labelled: int = 30

    def to_dict(self):
        return asdict(self)


GATE_FIELDS = tuple(f.name for f in fields(Gates))
_COUNTS = ("min_rows", "min_labelled")


def _check(name, value, source):
    where = f"{source}: {name}"
    if name in _COUNTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GateError(f"{where} must be a whole number, got {value!r}.", name)
        low = 2 if name == "min_rows" else 1
        if value < low:
            raise GateError(f"{where} must be at least {low}, got {value!r}.", name)
        return value
    if value is None or value is False:
        return None  # the gate is off
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GateError(
            f"{where} must be a number from 0 to 1 (or null to turn the gate off), got {value!r}.",
            name,
        )
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise GateError(f"{where} must be from 0 to 1, got {value!r}.", name)
    return float(value)


def make_gates(values=None, base=None, source="the gates"):
    """:class:`Gates` from a mapping of field to limit, over ``base`` (the
    defaults when None); a field not given keeps ``base``'s value.

    Raises
    ------
    InputError
        An unknown field, or a value of the wrong type or out of range;
        the message names the field and ``source``.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise GateError(f"{source} must be a table of field = limit, got {type(values).__name__}.")
    for name in values:
        if name not in GATE_FIELDS:
            raise GateError(
                f"{source}: unknown field {name!r}; the fields are {', '.join(GATE_FIELDS)}.",
                name,
            )
    checked = {name: _check(name, value, source) for name, value in values.items()}
    return replace(base or Gates(), **checked)


def read_gates(path, base=None):
    """:class:`Gates` from a ``.toml`` or ``.json`` file: its fields at the
    top level, or under a ``[gates]`` table."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise GateError(f"gates file {str(path)!r} must end in .toml or .json.")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise GateError(f"cannot read the gates file {str(path)!r}: {error.strerror}.") from None
    try:
        if suffix == ".toml":
            import tomllib

            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:  # tomllib's and json's errors
        kind = suffix[1:].upper()
        raise GateError(f"gates file {str(path)!r} is not valid {kind}: {error}.") from None
    if isinstance(values, dict) and set(values) == {"gates"}:
        values = values["gates"]
    return make_gates(values, base, source=f"gates file {str(path)!r}")


@dataclass
class GateResult:
    """One gate's verdict: ``status`` is ``"pass"``, ``"fail"``,
    ``"skipped"`` (nothing to judge it on; ``note`` says why) or ``"off"``."""

    gate: str
    measured: float | None
    limit: float | None
    status: str
    note: str = ""

    def to_dict(self):
        return asdict(self)
