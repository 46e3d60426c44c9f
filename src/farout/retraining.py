"""Retraining with gates: a new model fitted on a window of recent rows
with the champion's parameters, audited first and compared with the
champion on the same held-out rows, offered only if it passes its gates
(:mod:`farout.gates`). This module decides; the registry and the log are
the service's (:mod:`farout.service.retraining`, behind ``farout retrain``
and ``POST /v1/models/{name}/retrain``).

The steps, and the rules each keeps:

1. **The window** (:class:`Window`): rows oldest first, their row numbers
   their positions; with the analysts' labels where there are some, and the
   rows to keep out of the fit (those an analyst marked as anomalies).
2. **The audit** (:func:`farout.audit` over the model's columns) stops the
   job when the window holds data errors: a column missing in every row, a
   column stuck at one value, missing values the model refuses
   (``missing="error"``), suspect values (sentinels such as -999, text
   among numbers, infinities), and, with a time column, unparseable or
   missing times. Each comes with its row numbers. Duplicates and
   near-constant columns are shown as warnings only: logged inputs do
   repeat.
3. **The split**: the latest ``holdout`` share of the window (by time when
   it has times; else a seeded draw) is held out. The fit takes the other
   rows minus the marked ones; fewer than the ``min_rows`` gate stops the
   job before fitting.
4. **The fit**: ``clone(champion)``, the champion's ``get_params()``.
5. **The evaluation**: champion and new model score the held-out rows
   (the marked ones included: they are the confirmed alerts precision
   needs). Measured: each one's alert rate, the change between them, the
   Kolmogorov-Smirnov statistic between their scores, and each one's
   precision on the labelled held-out rows it flags.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data_audit import audit
from .exceptions import InputError, shown
from .gates import GateResult, Gates

__all__ = ["AuditFailed", "Retraining", "TooFewRows", "Window", "retrain_detector"]

#: Row numbers an audit problem lists at most.
EXAMPLES = 5


@dataclass
class Window:
    """The rows a retraining learns from and is judged on.

    Attributes
    ----------
    frame : pandas.DataFrame
        The model's columns, oldest row first; row numbers are positions.
    times : numpy.ndarray or None
        Each row's time (Unix seconds), or None: the held-out rows are then
        drawn at random (seeded).
    labels : numpy.ndarray
        1.0 anomaly, 0.0 normal, NaN unlabelled, by the rules of
        :mod:`farout.feedback`.
    marked : numpy.ndarray of bool
        Rows kept out of the fit: an analyst's latest verdict on them is
        ``"anomaly"``.
    ids : list or None
        Each row's prediction id, for a window read from the log.
    source : dict
        Where the rows came from (JSON-ready; goes into the provenance).
    time_column : str, optional
        The column of ``frame`` the audit checks as times.
    """

    frame: pd.DataFrame
    times: np.ndarray = None
    labels: np.ndarray = None
    marked: np.ndarray = None
    ids: list = None
    source: dict = field(default_factory=dict)
    time_column: str = None

    def __post_init__(self):
        n = len(self.frame)
        if self.labels is None:
            self.labels = np.full(n, np.nan)
        if self.marked is None:
            self.marked = np.zeros(n, dtype=bool)

    def rows_shown(self, rows):
        """``{row: prediction_id}`` of ``rows``, for a window from the log."""
        if self.ids is None:
            return None
        return {int(r): self.ids[int(r)] for r in rows}


class AuditFailed(InputError):
    """The window holds data errors to clean before a model learns from
    it; ``problems`` lists them (each with ``check``, ``column``,
    ``count``, ``rows``, ``message``) and ``audit`` is the whole report."""

    def __init__(self, problems, found, window):
        self.problems, self.audit, self.window = problems, found, window
        lines = "; ".join(p["message"] for p in problems)
        super().__init__(
            f"the training window fails its audit ({len(problems)} "
            f"problem{'s' if len(problems) != 1 else ''}; row numbers are 0-based rows of the "
            f"window, oldest first): {lines}. Clean the source, or choose another window."
        )

    def to_dict(self):
        out = {"problems": self.problems, "audit": self.audit.to_dict()}
        if self.window.ids is not None:
            rows = sorted({r for p in self.problems for r in p["rows"]})
            out["prediction_ids"] = {str(r): i for r, i in self.window.rows_shown(rows).items()}
        return out


class TooFewRows(InputError):
    """Fewer rows to fit on than the ``min_rows`` gate asks for."""

    def __init__(self, rows, needed, excluded):
        self.rows, self.needed, self.excluded = rows, needed, excluded
        super().__init__(
            f"gate min_rows: the window leaves {rows:,} rows to fit on ({excluded:,} marked "
            f"as anomalies kept out, and the held-out share), fewer than the {needed:,} it "
            "needs; nothing was fitted. Widen the window or lower min_rows."
        )


def _problem(check, column, count, rows, message):
    return {
        "check": check,
        "column": column,
        "count": int(count),
        "rows": [int(r) for r in rows],
        "message": message,
    }


def _row_text(rows, count):
    shown = ", ".join(map(str, rows))
    return f"row{'s' if count != 1 else ''} {shown}" + (", ..." if count > len(rows) else "")


def audit_window(window, detector):
    """The audit of the window's model columns, the problems that stop a
    retraining, and the warnings that do not."""
    frame = window.frame
    found = audit(frame, time_column=window.time_column, max_examples=EXAMPLES)
    failing, n = [], found.n_rows
    for name, row in found.columns.iterrows():
        if row["missing"] == n:
            failing.append(
                _problem(
                    "all_missing", name, n, [], f"column {name!r} is missing in every row ({n:,})"
                )
            )
        elif row["constant"] and name != window.time_column:
            failing.append(
                _problem(
                    "constant",
                    name,
                    n - row["missing"],
                    [],
                    f"column {name!r} holds one value in every row ({shown(row['top'])}): a source "
                    "stuck at one reading",
                )
            )
        elif row["missing"] and detector.missing == "error" and name != window.time_column:
            rows = np.flatnonzero(frame[name].isna().to_numpy())
            failing.append(
                _problem(
                    "missing",
                    name,
                    rows.size,
                    rows[:EXAMPLES],
                    f"column {name!r} is missing in {_row_text(rows[:EXAMPLES], rows.size)}, "
                    "which the model refuses (missing='error')",
                )
            )
    for s in found.suspects:
        failing.append(
            _problem(
                s.kind,
                s.column,
                s.count,
                s.rows,
                f"column {s.column!r}: "
                + (f"value {shown(s.value)}" if s.value is not None else s.kind.replace("_", " "))
                + f" in {_row_text(s.rows, s.count)} ({s.reason})",
            )
        )
    t = found.time
    if t is not None:
        for check, count, rows in (
            ("unparseable_time", t.unparseable, t.unparseable_rows),
            ("missing_time", t.missing, t.missing_rows),
        ):
            if count:
                what = check.replace("_time", "")
                failing.append(
                    _problem(
                        check,
                        t.column,
                        count,
                        rows,
                        f"time column {t.column!r} is {what} in {_row_text(rows, count)}",
                    )
                )
    # with nothing failing, whatever else the audit found is a warning
    warnings = [] if failing else list(found.problems)
    return found, failing, warnings


def _split(window, holdout, random_state):
    """``(train, held)`` positions: the latest ``holdout`` share held out
    (a seeded draw without times); marked rows kept out of ``train``."""
    n = len(window.frame)
    if window.times is not None:
        order = np.argsort(np.asarray(window.times, dtype=np.float64), kind="stable")
    else:
        order = np.random.default_rng(random_state).permutation(n)
    n_held = max(1, int(round(holdout * n)))
    held = np.sort(order[n - n_held :])
    train = np.sort(order[: n - n_held])
    return train[~window.marked[train]], held


def _precision(labels, flags):
    judged = flags & ~np.isnan(labels)
    count = int(judged.sum())
    return (None if count == 0 else float(labels[judged].mean())), count


def _measure(champion, new, X, labels):
    from scipy.stats import ks_2samp

    old, fresh = champion.detect(X), new.detect(X)
    old_flags = old["is_anomaly"].to_numpy(dtype=bool)
    new_flags = fresh["is_anomaly"].to_numpy(dtype=bool)
    old_precision, old_judged = _precision(labels, old_flags)
    new_precision, new_judged = _precision(labels, new_flags)
    drift = ks_2samp(old["anomaly_score"].to_numpy(), fresh["anomaly_score"].to_numpy())
    return {
        "held_out_rows": int(len(X)),
        "labelled_held_out": int((~np.isnan(labels)).sum()),
        "alert_rate_champion": float(old_flags.mean()),
        "alert_rate_new": float(new_flags.mean()),
        "alert_rate_change": float(abs(new_flags.mean() - old_flags.mean())),
        "score_drift": float(drift.statistic),
        "precision_champion": old_precision,
        "precision_new": new_precision,
        "labelled_alerts_champion": old_judged,
        "labelled_alerts_new": new_judged,
    }


def _judge(gates, rows, measured):
    out = [GateResult("min_rows", rows, gates.min_rows, "pass")]
    precision, judged = measured["precision_new"], measured["labelled_alerts_new"]
    if gates.min_precision is None:
        out.append(GateResult("min_precision", precision, None, "off"))
    elif judged < gates.min_labelled:
        out.append(
            GateResult(
                "min_precision",
                precision,
                gates.min_precision,
                "skipped",
                f"{judged} labelled held-out alerts, fewer than min_labelled={gates.min_labelled}",
            )
        )
    else:
        status = "pass" if precision >= gates.min_precision else "fail"
        out.append(GateResult("min_precision", precision, gates.min_precision, status))
    for gate, key in (
        ("max_alert_rate_change", "alert_rate_change"),
        ("max_score_drift", "score_drift"),
    ):
        limit = getattr(gates, gate)
        if limit is None:
            out.append(GateResult(gate, measured[key], None, "off"))
        else:
            status = "pass" if measured[key] <= limit else "fail"
            out.append(GateResult(gate, measured[key], limit, status))
    return out


@dataclass
class Retraining:
    """What :func:`retrain_detector` found.

    Attributes
    ----------
    outcome : str
        ``"challenger"`` when every gate passed (or was skipped or off),
        else ``"rejected"``.
    detector : KMeansAnomalyDetector
        The new model, fitted whatever the outcome.
    gates : list of GateResult
    failed : list of str
        The gates failed, in the table's order.
    measured : dict
        Alert rates, drift and precisions on the held-out rows.
    rows : dict
        ``window``, ``marked`` (kept out), ``fitted``, ``held_out``.
    limits : Gates
    warnings : list of str
        Audit findings that did not stop the job.
    audit : DataAudit
    """

    outcome: str
    detector: object
    gates: list
    failed: list
    measured: dict
    rows: dict
    limits: Gates
    warnings: list
    audit: object

    def to_dict(self):
        """JSON-ready, without the model."""
        return {
            "outcome": self.outcome,
            "failed": self.failed,
            "gates": [g.to_dict() for g in self.gates],
            "limits": self.limits.to_dict(),
            "measured": self.measured,
            "rows": self.rows,
            "warnings": self.warnings,
        }

    def to_text(self):
        return gate_table(self.gates)


def _shown(value):
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4f}"


def gate_table(gates):
    """The gates as a small text table: measured value, limit, result."""
    rows = [("gate", "measured", "limit", "result")]
    for g in gates:
        g = g if isinstance(g, GateResult) else GateResult(**g)
        result = g.status + (f" ({g.note})" if g.note else "")
        rows.append((g.gate, _shown(g.measured), _shown(g.limit), result))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows
    )


def retrain_detector(champion, window, gates=None, holdout=0.25, random_state=0):
    """Audit ``window``, fit a new model with ``champion``'s parameters on
    it, and judge it against ``champion`` on the same held-out rows.

    Parameters
    ----------
    champion : KMeansAnomalyDetector
        The model in service; left as it is.
    window : Window
    gates : Gates, optional
        Default :class:`~farout.gates.Gates()`.
    holdout : float, default=0.25
        Share of the window held out for the evaluation, in (0, 0.9].
    random_state : int, default=0
        Seeds the held-out draw of a window without times.

    Returns
    -------
    Retraining

    Raises
    ------
    AuditFailed
        The window holds data errors (nothing fitted).
    TooFewRows
        Fewer rows to fit on than ``gates.min_rows`` (nothing fitted).
    """
    from sklearn.base import clone

    gates = Gates() if gates is None else gates
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)):
        raise InputError(f"holdout must be a share in (0, 0.9], got {holdout!r}.")
    if not 0 < holdout <= 0.9:
        raise InputError(f"holdout must be a share in (0, 0.9], got {holdout!r}.")
    names = [c["name"] for c in champion.feature_schema()]
    absent = [n for n in names if n not in window.frame.columns]
    if absent:
        raise InputError(
            f"the window has no column {', '.join(map(repr, absent))}, which the champion "
            f"scores; it needs {', '.join(map(repr, names))}."
        )
    if len(window.frame) < 2:
        raise TooFewRows(len(window.frame), gates.min_rows, int(window.marked.sum()))
    found, failing, warnings = audit_window(window, champion)
    if failing:
        raise AuditFailed(failing, found, window)
    train, held = _split(window, holdout, random_state)
    if train.size < gates.min_rows:
        raise TooFewRows(int(train.size), gates.min_rows, int(window.marked.sum()))
    X = window.frame[names]
    new = clone(champion).fit(X.iloc[train])
    measured = _measure(champion, new, X.iloc[held], window.labels[held])
    results = _judge(gates, int(train.size), measured)
    failed = [g.gate for g in results if g.status == "fail"]
    rows = {
        "window": int(len(window.frame)),
        "marked": int(window.marked.sum()),
        "fitted": int(train.size),
        "held_out": int(held.size),
    }
    return Retraining(
        outcome="rejected" if failed else "challenger",
        detector=new,
        gates=results,
        failed=failed,
        measured=measured,
        rows=rows,
        limits=gates,
        warnings=warnings,
        audit=found,
    )
