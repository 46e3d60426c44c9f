"""The stream detector's parameters, checked once at the door, and the time
spans a half-life may be given in."""

import warnings

import numpy as np
import pandas as pd

from ..exceptions import InputError, shown

__all__ = ["check_params", "time_span"]


def check_params(detector):
    """Check a stream detector's parameters, naming the first that is wrong."""

    def positive(name, integer=False):
        value = getattr(detector, name)
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, bool
        )
        if not ok or value <= 0 or not np.isfinite(value) or (integer and value != int(value)):
            kind = "a positive whole number" if integer else "a positive number"
            raise InputError(f"{name} must be {kind}, got {shown(value)}.")

    if isinstance(detector.half_life, (str, pd.Timedelta, np.timedelta64)):
        try:
            span = time_span(detector.half_life)
        except (ValueError, TypeError):
            span = pd.NaT
        if pd.isna(span) or span <= pd.Timedelta(0):
            raise InputError(
                f"half_life must be a number of rows or a positive time span such as "
                f"'1h', got {shown(detector.half_life)}."
            )
    else:
        positive("half_life")
    for name in ("max_clusters", "open_after", "window", "short"):
        positive(name, integer=True)
    if not (isinstance(detector.warmup, (int, np.integer)) and detector.warmup >= 0):
        raise InputError(f"warmup must be a whole number >= 0, got {shown(detector.warmup)}.")
    for name in ("q", "likelihood_cut", "retire_below"):
        value = getattr(detector, name)
        if not isinstance(value, (float, int)) or not 0 < value < 1:
            raise InputError(f"{name} must be between 0 and 1, got {shown(value)}.")
    cuts = list(detector.tier_cuts().values())
    if any(not 0 < c <= 1 for c in cuts) or cuts != sorted(cuts):
        raise InputError(
            f"tiers must map names to likelihood cuts in (0, 1], least severe "
            f"first; got {shown(detector.tiers)}."
        )


def time_span(value):
    """A time span from text such as "1h" or "7d" (pandas' deprecation of
    the lower-case "d" is not the user's to see)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.Timedelta(value)
