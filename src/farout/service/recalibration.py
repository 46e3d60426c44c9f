"""``POST /v1/models/{name}/recalibrate``: a new threshold for the
champion from its logged scores and the analysts' verdicts on them
(:func:`farout.recalibration.recalibrate`), registered as a new version
that records its provenance and set as ``challenger``, to be scored in
shadow and compared. It never becomes champion here: promoting it is an
admin's alias change.
"""

import tempfile
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, select

from ..exceptions import InputError
from ..feedback import latest_verdicts, predictions_of
from ..persistence import write_state
from ..recalibration import (
    MIN_VERDICTS,
    NotEnoughFeedback,
    describe_feedback,
    recalibrate,
    target_threshold,
)
from .errors import Conflict, Invalid, NotFound
from .feedback import read_rows
from .predictions import parse_time
from .tables import log, logged

__all__ = ["RecalibrateRequest", "recalibrate_champion"]


class RecalibrateRequest(BaseModel):
    """What the new threshold must achieve, on the feedback of a time range."""

    model_config = ConfigDict(extra="forbid")
    target: Literal["precision", "cost", "alert_rate"] = Field(
        description="precision: the lowest cut whose reviewed precision reaches value; cost: "
        "the cut cheapest on the reviewed rows; alert_rate: the cut that flags value of all "
        "logged scores."
    )
    value: float | None = Field(None, description="The precision or the alert rate, in (0, 1).")
    fp_cost: float | None = Field(None, description="Cost of a false alarm (target cost).")
    fn_cost: float | None = Field(None, description="Cost of a missed anomaly (target cost).")
    since: str | float | None = Field(
        None, description="Only predictions scored from then (ISO 8601, or Unix seconds)."
    )
    until: str | float | None = Field(None, description="Only predictions scored before then.")


def _threshold(body):
    try:
        return target_threshold(body.target, body.value, body.fp_cost, body.fn_cost)
    except InputError as error:
        field = (
            "fp_cost"
            if "fp_cost" in str(error)
            else "fn_cost"
            if "fn_cost" in str(error)
            else "value"
        )
        raise Invalid(str(error), field=field) from None


def _scores(db, name, version, body):
    """Every row the champion logged in the range, with each analyst's
    latest verdict: the unreviewed ones count for an alert rate, and give
    the alert rate before and after for the labelled targets."""
    return read_rows(
        db,
        body.since,
        body.until,
        f"{name}/{version}",
        shadow=None,
        reviewed=False,
        with_input=False,
    )


def _count(db, name, version, body):
    where = [logged.model_name == name, logged.model_version == version]
    if body.since is not None:
        where.append(logged.scored_at >= parse_time(body.since, "since"))
    if body.until is not None:
        where.append(logged.scored_at < parse_time(body.until, "until"))
    with db.reading() as connection:
        return connection.execute(
            select(func.count()).select_from(log).where(and_(*where))
        ).scalar()


def recalibrate_champion(registry, db, name, body, actor):
    """Fit, register and point ``challenger`` at the recalibrated version;
    returns ``{"version", "recalibration"}``."""
    threshold = _threshold(body)
    aliases = registry.aliases(name)
    if "champion" not in aliases:
        if not any(m["name"] == name for m in registry.models()):
            raise NotFound(f"no model is named {name!r}; GET /v1/models lists them.", field="name")
        raise Conflict(
            f"model {name!r} has no champion to recalibrate; set one first.", field="name"
        )
    version = aliases["champion"]
    detector = registry.load(name, version)
    frame = _scores(db, name, version, body)
    preds = predictions_of(frame) if len(frame) else None
    if preds is None:
        raise Invalid(
            f"{name}/{version} has no logged predictions with verdicts in this range; a "
            f"recalibration needs at least {MIN_VERDICTS} verdicts on flagged predictions. "
            "Review alerts first (POST /v1/feedback).",
            field="target",
            labelled=0,
            needed=MIN_VERDICTS,
        )
    try:
        new, details = recalibrate(
            detector,
            preds["anomaly_score"],
            preds["cluster"],
            preds["is_anomaly"],
            preds["label"],
            threshold,
        )
    except NotEnoughFeedback as error:
        raise Invalid(
            str(error), field="target", labelled=error.labelled, needed=error.needed
        ) from None
    except InputError as error:  # e.g. no cut reaches the precision asked for
        raise Invalid(str(error), field="value") from None
    target = body.model_dump(exclude_none=True)
    provenance = {
        "kind": "recalibration",
        "from": {"name": name, "version": version},
        "target": target,
        "threshold": details["threshold"],
        "cut": details["cut"],
        "previous_cut": details["previous_cut"],
        "feedback": describe_feedback(latest_verdicts(frame), preds),
        "logged_rows": _count(db, name, version, body),
        "by": actor,
        "at": time.time(),
    }
    with tempfile.TemporaryDirectory(dir=_incoming(registry)) as folder:
        path = Path(folder) / f"{name}.farout"
        write_state(path, type(new).__name__, new.get_state(), extra={"provenance": provenance})
        added = registry.add(path, name, actor=actor, provenance=provenance)
    registry.set_alias(name, "challenger", added["version"], actor=actor)
    return {
        "version": registry.version(name, added["version"]),
        "recalibration": {**details, "target": target},
    }


def _incoming(registry):
    folder = registry.root / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
