"""Flagged predictions into alerts: one per entity (a logged input column
the operator names, such as ``account`` or ``host``) per window, with a
count, so one failing machine pages a team once a window, not a thousand
times. Pure: rows in, groups out.
"""

import hashlib
from dataclasses import dataclass

__all__ = ["Flag", "Group", "alert_key", "at_least", "group_flags", "severity_rank"]


@dataclass(frozen=True)
class Flag:
    """A flagged, served (not shadow) prediction from the log."""

    seq: int
    prediction_id: str
    scored_at: float
    model_name: str
    model_version: int
    severity: str | None
    reason: str
    score: float
    entity: str | None


@dataclass(frozen=True)
class Group:
    """An alert: the flags of one entity in one window. Its severity is the
    highest among them; its reason and link are the highest score's."""

    model_name: str
    model_version: int
    entity: str | None
    window_start: float
    window_end: float
    count: int
    severity: str | None
    reason: str
    prediction_id: str
    max_score: float
    first_seq: int


def severity_rank(severity, tiers):
    """Position of ``severity`` among a model's tier names (least severe
    first); -1 for a flag below every tier (or borderline)."""
    try:
        return tiers.index(severity)
    except ValueError:
        return -1


def at_least(flags, minimum, tiers_of):
    """The flags whose severity is ``minimum`` or above, by each flag's
    model's tiers (``tiers_of(name, version)``). A model without a tier of
    that name passes all its flags: a flood beats silence."""
    if minimum is None:
        return list(flags)
    out = []
    for flag in flags:
        tiers = tiers_of(flag.model_name, flag.model_version)
        if minimum not in tiers or severity_rank(flag.severity, tiers) >= tiers.index(minimum):
            out.append(flag)
    return out


def group_flags(flags, window, tiers_of):
    """The alerts of ``flags``: one per model, entity and window of
    ``window`` seconds (a flag without an entity is an alert alone), in the
    order their first flag was logged."""
    groups = {}
    for flag in flags:
        start = (flag.scored_at // window) * window
        who = ("entity", flag.entity) if flag.entity is not None else ("row", flag.prediction_id)
        groups.setdefault((flag.model_name, who, start), []).append(flag)
    out = []
    for (name, who, start), members in groups.items():
        top = max(members, key=lambda f: f.score)
        tiers = tiers_of(name, top.model_version)
        worst = max(members, key=lambda f: severity_rank(f.severity, tiers))
        out.append(
            Group(
                model_name=name,
                model_version=top.model_version,
                entity=who[1] if who[0] == "entity" else None,
                window_start=start,
                window_end=start + window,
                count=len(members),
                severity=worst.severity,
                reason=top.reason,
                prediction_id=top.prediction_id,
                max_score=top.score,
                first_seq=min(f.seq for f in members),
            )
        )
    return sorted(out, key=lambda g: g.first_seq)


def alert_key(*parts):
    """A fixed-length key of an alert for one destination: the same rows
    give the same key, so the log read twice cannot make two alerts."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
