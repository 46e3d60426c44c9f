"""The feature transformers a stream runs side by side: windowed features,
per-entity aggregates and calendar context, each row's features the
concatenation of theirs, in the order given.

Every transformer has the same two doors: ``online(values, seconds=,
rows=, entities=)``, rows in order with its state carried between calls,
and ``transform(frame, times=, entities=)``, a whole table at once (the
reference the online path is tested against); and ``names(columns)``,
``needs_times``, ``needs_entities``, ``get_state`` / ``from_state``.
Only the transformers produce features: to keep the columns themselves
beside entity or calendar features, put a plain ``WindowFeatures()``
first.
"""

import numpy as np
import pandas as pd

from ..exceptions import InputError, ModelFileError, shown
from .calendar import CalendarFeatures
from .entities import EntityFeatures
from .windows import WindowFeatures

__all__ = ["KINDS", "FeatureStack"]

#: The transformers a stream takes, by the name their state records.
KINDS = {cls.__name__: cls for cls in (WindowFeatures, EntityFeatures, CalendarFeatures)}


class FeatureStack:
    """Transformers run side by side over a stream's rows.

    Parameters
    ----------
    parts : list of WindowFeatures, EntityFeatures or CalendarFeatures
    """

    def __init__(self, parts):
        self.parts = list(parts)

    @classmethod
    def of(cls, features):
        """The stack of ``features`` (one transformer or a list), or None."""
        if features is None:
            return None
        parts = list(features) if isinstance(features, (list, tuple)) else [features]
        for part in parts:
            if not isinstance(part, tuple(KINDS.values())):
                raise InputError(
                    f"features must be a WindowFeatures, EntityFeatures or CalendarFeatures, "
                    f"or a list of them; got {shown(part)}."
                )
        if not parts:
            raise InputError("features is an empty list; pass None for the columns alone.")
        return cls(parts)

    @property
    def needs_times(self):
        return any(p.needs_times for p in self.parts)

    @property
    def needs_entities(self):
        return any(p.needs_entities for p in self.parts)

    def names(self, columns):
        return [name for p in self.parts for name in p.names(columns)]

    def online(self, values, *, seconds=None, rows=None, entities=None):
        """The features of rows ``values`` in order (n x features)."""
        blocks = [
            p.online(values, seconds=seconds, rows=rows, entities=entities) for p in self.parts
        ]
        return np.column_stack(blocks) if len(blocks) > 1 else blocks[0]

    def transform(self, frame, *, times=None, entities=None):
        """The features of a whole table (the batch path)."""
        parts = [p.transform(frame, times=times, entities=entities) for p in self.parts]
        return pd.concat(parts, axis=1)

    def get_state(self):
        meta = {"kinds": [type(p).__name__ for p in self.parts]}
        return {"meta": meta, "parts": {str(i): p.get_state() for i, p in enumerate(self.parts)}}

    @classmethod
    def from_state(cls, state):
        kinds = state["meta"]["kinds"]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ModelFileError(f"the stream's features hold an unknown kind {unknown[0]!r}.")
        return cls([KINDS[k].from_state(state["parts"][str(i)]) for i, k in enumerate(kinds)])
