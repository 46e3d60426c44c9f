"""Tuning: the detector's parameters chosen on a validation split, judged
against labels, with a test split held out until the choice is made.

:func:`tune` splits the labelled rows into a development part and a test
part (the last ``test_size`` of the time order with a time column, else
stratified at random). A fixed budget of candidate configurations (the
default always among them, the others drawn at random from a grid of the
parameters that matter) is cross-validated on the development part alone:
:class:`~farout.model_selection.TemporalFolds` with a time column,
stratified folds otherwise. The labels judge; the detectors never see them.
Only once a configuration is chosen are the test rows read: the chosen
configuration and the default, each fitted on the whole development part,
are scored there side by side.

A winner whose margin over the default is inside the noise of the folds
(at most one standard deviation of the per-fold differences) is no winner:
the default is kept, with a warning that says so.
"""

import contextlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.model_selection import StratifiedKFold, train_test_split
from tqdm.auto import tqdm

from .detector import KMeansAnomalyDetector
from .exceptions import FaroutWarning, InputError
from .features.labels import as_anomaly_labels
from .features.schema import require_column
from .model_selection import TemporalFolds, anomaly_scores, make_anomaly_scorer, temporal_split
from .persistence import jsonable, write_state
from .search_space import DEFAULT_SPACE, configured, draw_candidates, knobs, params_text

__all__ = ["DEFAULT_SPACE", "Tuning", "tune"]


@dataclass
class Tuning:
    """What :func:`tune` found.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, in the order tried (0 is the default): its
        parameters, ``mean`` and ``sd`` of its validation scores over the
        folds, each fold's score (``fold 1``, ...), and ``error`` where it
        could not be fitted.
    candidates : list of dict
        Each candidate's parameters.
    metric : str
    default, best, chosen : int
        The default's row (0), the best validation mean's, and the one
        kept: the best, unless its margin is inside the fold noise.
    margin, noise : float
        The best candidate's mean lead over the default on the folds, and
        the standard deviation of its per-fold differences.
    test_scores : dict
        Scores on the test split of ``"chosen"``, ``"default"`` and
        ``"best"``, each fitted on the whole development part.
    detector : KMeansAnomalyDetector
        The chosen configuration, fitted on the development part (training
        and validation rows).
    warning : str or None
        "the default is as good; keep it: ..." when the margin is noise.
    test_rows : ndarray
        Positions in the table of the rows held out as the test split.
    """

    table: pd.DataFrame
    candidates: list
    metric: str
    alert_rate: float
    default: int
    best: int
    chosen: int
    margin: float
    noise: float
    test_scores: dict
    detector: KMeansAnomalyDetector = field(repr=False)
    warning: str = None
    test_rows: np.ndarray = field(default=None, repr=False)
    split: dict = field(default_factory=dict)

    def record(self):
        """The search as JSON-ready data, as the model file keeps it."""
        folds = [c for c in self.table.columns if str(c).startswith("fold ")]
        return jsonable(
            {
                "metric": self.metric,
                "alert_rate": self.alert_rate,
                "split": self.split,
                "candidates": [
                    {
                        "params": _params_json(params),
                        "fold_scores": [_number(row[c]) for c in folds],
                        "mean": _number(row["mean"]),
                        "sd": _number(row["sd"]),
                        "error": row["error"],
                    }
                    for params, (_, row) in zip(self.candidates, self.table.iterrows(), strict=True)
                ],
                "default": self.default,
                "best": self.best,
                "chosen": self.chosen,
                "margin": _number(self.margin),
                "noise": _number(self.noise),
                "test": {k: _number(v) for k, v in self.test_scores.items()},
                "warning": self.warning,
            }
        )

    def save(self, path):
        """Write the chosen model to ``path``, its manifest recording the
        search (``farout info`` shows it)."""
        det = self.detector
        write_state(path, type(det).__name__, det.get_state(), extra={"search": self.record()})
        return path

    def to_text(self):
        """The candidates (best first), the choice and the test scores."""
        return _text(self)

    def __str__(self):
        return self.to_text()


def tune(
    frame,
    label,
    *,
    time_column=None,
    detector=None,
    budget=20,
    metric="average_precision",
    alert_rate=0.01,
    n_splits=3,
    test_size=0.2,
    space=None,
    random_state=0,
    progress=False,
):
    """Choose the detector's parameters by cross-validation on a validation
    split; the test split is read only once the choice is made.

    Parameters
    ----------
    frame : pandas.DataFrame
        Features, the ``label`` column and, if given, ``time_column``;
        every other column is a feature.
    label : str
        Anomaly labels (0/1, booleans or +1/-1 with -1 = anomaly). Used to
        judge the candidates, never to fit them.
    time_column : str, optional
        Split and fold in time (:func:`~farout.model_selection.temporal_split`,
        :class:`~farout.model_selection.TemporalFolds`); not a feature.
        Without it the split and the folds are stratified at random.
    detector : KMeansAnomalyDetector, optional
        The default configuration, and the parameters every candidate keeps
        beside those searched (threshold, tiers, missing, ...). Cloned.
        Default ``KMeansAnomalyDetector(random_state=random_state)``.
    budget : int, default=20
        Candidates tried, the default included.
    metric : {"average_precision", "roc_auc", "precision_at_budget"}
    alert_rate : float, default=0.01
        The alert budget of ``"precision_at_budget"``.
    n_splits : int, default=3
        Folds of the development part. A fold whose validation rows hold
        no anomaly (in time, an early quiet period) is left out.
    test_size : float, default=0.2
        Share of the rows held out as the test split.
    space : dict, optional
        The grid, as :data:`DEFAULT_SPACE` (which it defaults to); a subset
        of its keys searches those parameters only.
    random_state : int, default=0
        Seeds the split, the folds and the draw of candidates.
    progress : bool, default=False
        A progress bar (tqdm, on stderr) over the fits.

    Returns
    -------
    Tuning
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"tune takes a pandas DataFrame, got {type(frame).__name__}.")
    for name, value, low in (("budget", budget, 1), ("n_splits", n_splits, 2)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise InputError(f"{name} must be a whole number >= {low}, got {value!r}.")
    if not 0 < test_size < 1:
        raise InputError(f"test_size must be in (0, 1), got {test_size!r}.")
    scorer = make_anomaly_scorer(metric, alert_rate)
    try:
        truth = as_anomaly_labels(require_column(frame, label, "label"))
    except InputError as exc:
        raise InputError(f"label column {label!r}: {exc}") from None
    if time_column is not None:
        require_column(frame, time_column, "time")
        if time_column == label:
            raise InputError("the time column and the label column must differ.")
    base = KMeansAnomalyDetector(random_state=random_state) if detector is None else detector
    if not isinstance(base, KMeansAnomalyDetector):
        raise InputError(f"detector must be a KMeansAnomalyDetector, got {type(base).__name__}.")
    features = frame.drop(columns=[label] + ([time_column] if time_column else []))
    if features.shape[1] == 0:
        raise InputError(f"no feature columns: the data holds only {label!r} and the time.")
    frame = frame.reset_index(drop=True)  # positions from here on
    if time_column is not None:
        frame[time_column] = _times(frame[time_column], time_column)
    development, test = _split(frame, truth, time_column, test_size, random_state)
    folds, used = _folds(frame, truth, development, time_column, n_splits, random_state)
    rng = np.random.default_rng(random_state)
    default = knobs(base)
    candidates = draw_candidates(
        DEFAULT_SPACE if space is None else space, default, budget, rng, base
    )

    # The search: development rows only.
    X_dev = features.iloc[development]
    y_dev = truth[development]
    scores = np.full((len(candidates), len(folds)), np.nan)
    errors = [None] * len(candidates)
    with (
        _warned_once(),
        tqdm(total=scores.size, desc="tuning", unit=" fits", disable=not progress) as bar,
    ):
        for i, params in enumerate(candidates):
            for j, (train, val) in enumerate(folds):
                try:
                    fitted = configured(base, params, verbose=0).fit(X_dev.iloc[train])
                    scores[i, j] = scorer(fitted, X_dev.iloc[val], y_dev[val])
                except ValueError as exc:  # InputError included: this one cannot fit here
                    errors[i] = f"{type(exc).__name__}: {exc}"
                    scores[i] = np.nan
                    bar.update(len(folds) - j)
                    break
                bar.update(1)
    if errors[0] is not None:
        raise InputError(f"the default configuration cannot be fitted on this data: {errors[0]}")
    mean = scores.mean(axis=1)  # a candidate that failed has no score on any fold
    sd = scores.std(axis=1, ddof=1)
    best = int(np.nanargmax(mean))
    lead = scores[best] - scores[0]
    margin = float(lead.mean())
    noise = float(lead.std(ddof=1)) if lead.size > 1 else 0.0
    chosen, warning = best, None
    if best != 0 and margin <= noise:
        chosen = 0
        warning = (
            f"the default is as good; keep it: the best candidate (#{best}: "
            f"{params_text(candidates[best], default)}) leads it by {margin:.4f} {metric} on "
            f"the validation folds, inside their noise (sd {noise:.4f} of the per-fold "
            "differences); the model is fitted with the default's parameters"
        )
        warnings.warn(warning, FaroutWarning, stacklevel=2)

    # The test split, read now that the choice is made.
    X_test, y_test = features.iloc[test], truth[test]
    fitted, test_scores = {}, {}
    with _warned_once():
        for which in dict.fromkeys((chosen, 0, best)):
            fitted[which] = configured(base, candidates[which]).fit(X_dev)
            test_scores[which] = scorer.score(y_test, anomaly_scores(fitted[which], X_test))
    table = _table(candidates, scores, mean, sd, errors, used)
    split = {
        "by": "time" if time_column else "stratified",
        "label": label,
        "time_column": time_column,
        "test_size": float(test_size),
        "folds": {"kind": "temporal" if time_column else "stratified", "n_splits": n_splits},
        "folds_used": used,
        "rows": {"development": len(development), "test": len(test)},
        "anomalies": {"development": int(y_dev.sum()), "test": int(y_test.sum())},
    }
    return Tuning(
        table=table,
        candidates=candidates,
        metric=metric,
        alert_rate=float(alert_rate),
        default=0,
        best=best,
        chosen=chosen,
        margin=margin,
        noise=noise,
        test_scores={
            "chosen": test_scores[chosen],
            "default": test_scores[0],
            "best": test_scores[best],
        },
        detector=fitted[chosen],
        warning=warning,
        test_rows=np.asarray(test),
        split=split,
    )


# ------------------------------------------------------------ the split
def _times(values, name):
    """A time column as times to order rows by: numbers and datetimes as
    they are, text (as read from CSV) parsed as ISO 8601."""
    if ptypes.is_numeric_dtype(values.dtype) or ptypes.is_datetime64_any_dtype(values.dtype):
        return values
    try:
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # offsets that differ from row to row
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)
    bad = np.flatnonzero((parsed.isna() & values.notna()).to_numpy())
    if bad.size:
        raise InputError(
            f"time column {name!r}: row {bad[0]} holds {values.iloc[bad[0]]!r}, not an ISO 8601 "
            f"time such as 2024-03-01 12:00:00 ({bad.size:,} such rows; farout audit "
            f"--time-column {name} lists them); fix them, or give times as numbers."
        )
    return parsed


def _split(frame, truth, time_column, test_size, random_state):
    """(development, test) positions: the test split is the last
    ``test_size`` of the time order, or a stratified random share."""
    if time_column is not None:
        development, test = temporal_split(frame, time_column, (1 - test_size, test_size))
        development, test = development.index.to_numpy(), test.index.to_numpy()
        where = "the last in time"
    else:
        if truth.sum() < 2 or (~truth).sum() < 2:
            raise InputError(
                f"the labels hold {int(truth.sum())} anomalies and {int((~truth).sum())} normal "
                "rows; tuning needs at least 2 of each (and a few per fold)."
            )
        development, test = train_test_split(
            np.arange(len(frame)), test_size=test_size, stratify=truth, random_state=random_state
        )
        development, test = np.sort(development), np.sort(test)
        where = "stratified"
    if not truth[test].any() or truth[test].all():
        raise InputError(
            f"the test split ({len(test):,} rows, {where}) holds "
            f"{'no anomalies' if not truth[test].any() else 'only anomalies'}, so nothing could "
            "be measured on it; use a larger test_size (--test-size) or more labelled rows."
        )
    return development, test


def _folds(frame, truth, development, time_column, n_splits, random_state):
    """The validation folds of the development part (positions within it)
    whose validation rows hold both classes, and their 1-based numbers."""
    y = truth[development]
    if time_column is not None:
        if len(development) <= n_splits:
            raise InputError(
                f"{len(development)} development rows cannot make {n_splits} folds in time."
            )
        splits = TemporalFolds(n_splits, time_column).split(frame.iloc[development])
    else:
        if int(y.sum()) < n_splits:
            raise InputError(
                f"the development part holds {int(y.sum())} anomalies, fewer than the "
                f"{n_splits} folds; lower n_splits (--folds) or label more anomalies."
            )
        folds = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
        splits = folds.split(np.zeros(len(y)), y)
    kept, used = [], []
    for number, (train, val) in enumerate(splits, 1):
        if y[val].any() and not y[val].all():
            kept.append((train, val))
            used.append(number)
    if len(kept) < 2:
        raise InputError(
            f"only {len(kept)} of the {n_splits} validation folds hold both anomalies and "
            "normal rows; at least 2 are needed to see the noise between folds: use more "
            "folds (--folds), or more labelled anomalies"
            + (" spread over the time range." if time_column else ".")
        )
    return kept, used


@contextlib.contextmanager
def _warned_once():
    """Each distinct warning of the block once, not once per fit (the
    same columns give the same warning in every fold)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen = set()
    for w in caught:
        key = (w.category, str(w.message))
        if key not in seen:
            seen.add(key)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


# -------------------------------------------------------------- output
def _table(candidates, scores, mean, sd, errors, used):
    rows = []
    for i, params in enumerate(candidates):
        row = dict(params, mean=mean[i], sd=sd[i])
        row.update({f"fold {n}": scores[i, j] for j, n in enumerate(used)})
        row["error"] = errors[i]
        rows.append(row)
    table = pd.DataFrame(rows).rename_axis("candidate")
    for knob in DEFAULT_SPACE:  # as given: None stays None (a scaling), tuples stay tuples
        table[knob] = pd.Series([p[knob] for p in candidates], dtype=object)
    return table


def _number(value):
    return None if value is None or not np.isfinite(value) else float(value)


def _params_json(params):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _k_text(params):
    if params["score_mode"] == "ensemble":
        return "-"
    if params["n_clusters"] == "auto":
        low, high = params["k_range"]
        return f"auto {low}-{high}"
    return str(params["n_clusters"])


def _text(result):
    split, table = result.split, result.table
    folds = [c for c in table.columns if str(c).startswith("fold ")]
    rows = split["rows"]
    anomalies = split["anomalies"]
    metric = result.metric
    if metric == "precision_at_budget":
        metric += f" (alert rate {result.alert_rate:.2%})"
    lines = [
        f"{len(result.candidates)} candidates by {metric}, over {len(folds)} "
        f"{split['folds']['kind']} folds of the {rows['development']:,} development rows "
        f"({anomalies['development']:,} anomalies); the test split of {rows['test']:,} rows "
        f"({anomalies['test']:,} anomalies) was held out until the choice was made",
        "",
    ]
    marks = {}
    for name, i in (("default", result.default), ("best", result.best), ("chosen", result.chosen)):
        marks.setdefault(i, []).append(name)
    shown = pd.DataFrame(
        {
            "#": table.index,
            "score_mode": table["score_mode"],
            "metric": table["metric"],
            "scaling": [
                "none" if p["scaling"] is None else p["scaling"] for p in result.candidates
            ],
            "k": [_k_text(p) for p in result.candidates],
            "ensemble": [
                "-"
                if p["score_mode"] != "ensemble"
                else f"{p['ensemble__n_estimators']}x{p['ensemble__max_samples']}"
                for p in result.candidates
            ],
            "mean \u00b1 sd": [
                "failed" if np.isnan(m) else f"{m:.4f} \u00b1 {s:.4f}"
                for m, s in zip(table["mean"], table["sd"], strict=True)
            ],
            **{f: table[f].map(lambda v: "" if np.isnan(v) else f"{v:.3f}") for f in folds},
            "": [", ".join(marks.get(i, [])) for i in table.index],
        }
    )
    order = np.argsort(-table["mean"].fillna(-np.inf).to_numpy(), kind="stable")
    lines.append(shown.iloc[order].to_string(index=False))
    failed = table[table["error"].notna()]
    for i, error in failed["error"].items():
        lines.append(f"#{i} failed: {error}")
    lines.append("")
    best, default = result.best, result.default
    params = result.candidates[best]
    ahead = (
        f"{result.margin:+.4f} over the default (sd of the per-fold differences {result.noise:.4f})"
    )
    if result.chosen != default:
        lines.append(
            f"chosen: #{best} ({params_text(params, result.candidates[default])}): {ahead}"
        )
    elif best == default:
        lines.append("chosen: the default; no candidate beat it on the validation folds")
    else:
        lines.append(
            f"chosen: the default; the best candidate, #{best}, is {ahead}: inside the noise"
        )
    tests = result.test_scores
    line = f"test split: chosen {tests['chosen']:.4f}, default {tests['default']:.4f}"
    if best != result.chosen:
        line += f" (#{best}, best on the validation folds: {tests['best']:.4f})"
    lines.append(line)
    return "\n".join(lines)
