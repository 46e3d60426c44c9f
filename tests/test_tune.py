"""Tuning on a validation split (farout.tune, farout tune) and the anomaly
scorers for scikit-learn's searches."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, StratifiedKFold

from farout import KMeansAnomalyDetector, load, tune
from farout import tuning as tuning_module
from farout.cli import main
from farout.exceptions import FaroutWarning
from farout.model_selection import (
    AnomalyScorer,
    average_precision_scorer,
    make_anomaly_scorer,
    roc_auc_scorer,
)
from farout.persistence import read_manifest

# Which candidate wins is beside the point of most tests here; the one that
# checks the warning catches it with pytest.warns.
pytestmark = pytest.mark.filterwarnings("ignore:the default is as good")

SMALL = {"scaling": ["standard", "robust", None], "ensemble__max_samples": [64, 128, 256]}


def labelled(n=600, seed=0, index_from=0, time=False):
    """Three normal features, 6% anomalies scattered far from them and,
    with ``time``, an hourly time column in row order (anomalies spread
    through it)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.zeros(n, dtype=int)
    anomalies = rng.choice(n, int(0.06 * n), replace=False)
    X[anomalies] = rng.uniform(-7, 7, size=(len(anomalies), 3))
    y[anomalies] = 1
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    if time:
        frame["ts"] = pd.date_range("2024-01-01", periods=n, freq="h")
    frame["label"] = y
    frame.index = pd.RangeIndex(index_from, index_from + n)
    return frame


class Recording(KMeansAnomalyDetector):
    """A detector that records the rows each fit and each scoring sees."""

    calls = []

    def fit(self, X, y=None):
        Recording.calls.append(("fit", set(X.index)))
        return super().fit(X, y)

    def anomaly_score(self, X):
        Recording.calls.append(("score", set(X.index)))
        return super().anomaly_score(X)


@pytest.mark.parametrize("time_column", [None, "ts"])
def test_the_search_never_reads_the_test_split(time_column):
    frame = labelled(index_from=1000, time=time_column is not None)  # labels are recorded
    Recording.calls = []
    result = tune(
        frame,
        "label",
        time_column=time_column,
        detector=Recording(random_state=0),
        budget=4,
        space=SMALL,
    )
    test = set(frame.index[result.test_rows])
    assert len(test) == 120 and result.split["rows"] == {"development": 480, "test": 120}
    if time_column:  # the test split is the last fifth in time
        assert test == set(frame.index[-120:])
    n_fits = 4 * len(result.split["folds_used"])  # every candidate on every fold
    search, final = Recording.calls[: 2 * n_fits], Recording.calls[2 * n_fits :]
    assert [kind for kind, _ in search] == ["fit", "score"] * n_fits
    assert all(not rows & test for _, rows in search)
    # then, and only then: each configuration measured is fitted on the development
    # rows, all of them, and scored on the test rows
    development = set(frame.index) - test
    assert final and [kind for kind, _ in final] == ["fit", "score"] * (len(final) // 2)
    assert all(rows == (test if kind == "score" else development) for kind, rows in final)


def test_poisoning_the_test_split_changes_nothing_in_the_choice():
    frame = labelled(time=True)
    clean = tune(frame, "label", time_column="ts", budget=3, space=SMALL)
    poisoned = frame.copy()
    rows = poisoned.index[clean.test_rows]
    rng = np.random.default_rng(9)
    poisoned.loc[rows, ["a", "b", "c"]] = rng.normal(0, 1e6, size=(len(rows), 3))
    poisoned.loc[rows, "label"] = (rng.random(len(rows)) < 0.3).astype(int)
    again = tune(poisoned, "label", time_column="ts", budget=3, space=SMALL)
    pd.testing.assert_frame_equal(again.table, clean.table)
    assert (again.chosen, again.best) == (clean.chosen, clean.best)
    assert again.test_scores != clean.test_scores  # the test split was read, after


class _FixedScores:
    """A scorer giving the default the fold scores ``base`` and the other
    candidate (scaling="robust") ``base + lead``."""

    base = np.array([0.70, 0.80, 0.75])

    def __init__(self, lead):
        self.lead, self.calls = np.asarray(lead), {}

    def __call__(self, det, X, y):
        other = det.scaling == "robust"
        fold = self.calls.get(other, 0)
        self.calls[other] = fold + 1
        return float(self.base[fold] + (self.lead[fold] if other else 0.0))

    def score(self, y, scores):
        return 0.5


@pytest.mark.parametrize(
    ("lead", "kept"),
    [([0.05, -0.03, 0.01], "default"), ([0.05, 0.06, 0.04], "winner")],
)
def test_a_winner_inside_the_fold_noise_keeps_the_default(monkeypatch, lead, kept):
    scorer = _FixedScores(lead)
    monkeypatch.setattr(tuning_module, "make_anomaly_scorer", lambda metric, rate: scorer)
    space = {"scaling": ["standard", "robust"]}
    if kept == "default":
        with pytest.warns(FaroutWarning, match="the default is as good; keep it"):
            result = tune(labelled(), "label", budget=2, space=space)
        assert (result.best, result.chosen) == (1, 0)
        assert result.detector.scaling == "standard"
        assert "inside the noise" in result.to_text()
    else:
        result = tune(labelled(), "label", budget=2, space=space)
        assert (result.best, result.chosen, result.warning) == (1, 1, None)
        assert result.detector.scaling == "robust"
    assert result.margin == pytest.approx(np.mean(lead))
    assert result.noise == pytest.approx(np.std(lead, ddof=1))
    row = result.table.loc[1]
    assert row["mean"] == pytest.approx(np.mean(scorer.base + lead))
    assert [row[f"fold {i}"] for i in (1, 2, 3)] == pytest.approx(scorer.base + lead)


def test_candidates_are_distinct_the_default_first_and_within_the_grid():
    result = tune(labelled(), "label", budget=50, space=SMALL, n_splits=2)
    # 3 scalings x 3 samples = 9 configurations: the budget is not padded
    assert len(result.candidates) == 9 == len(result.table)
    assert result.candidates[0]["scaling"] == "standard"
    assert result.candidates[0]["ensemble__max_samples"] == 256
    keys = {tuple(sorted((k, str(v)) for k, v in c.items())) for c in result.candidates}
    assert len(keys) == 9
    assert result.table["mean"].between(0, 1).all() and (result.table["sd"] >= 0).all()


def test_irrelevant_parameters_take_the_defaults_value():
    result = tune(labelled(n=300), "label", budget=10, random_state=3, n_splits=2)
    for params in result.candidates:
        if params["score_mode"] == "ensemble":
            assert (params["n_clusters"], params["k_range"]) == ("auto", (2, 10))
        else:
            assert (params["ensemble__n_estimators"], params["ensemble__max_samples"]) == (25, 256)
        if params["metric"] == "mahalanobis":
            assert params["scaling"] == "standard"


def test_the_chosen_model_is_fitted_on_training_and_validation_rows():
    frame = labelled()
    result = tune(frame, "label", budget=2, space=SMALL, n_splits=2)
    det = result.detector
    assert det.training_summary_["n_rows"] == 480
    assert list(det.feature_names_in_) == ["a", "b", "c"]  # not the label


def test_bad_arguments_name_what_to_fix():
    frame = labelled()
    with pytest.raises(ValueError, match="no label column 'nope'"):
        tune(frame, "nope")
    with pytest.raises(ValueError, match="budget must be a whole number >= 1"):
        tune(frame, "label", budget=0)
    with pytest.raises(ValueError, match="space: unknown parameter"):
        tune(frame, "label", space={"colour": ["red"]})
    with pytest.raises(ValueError, match="metric must be one of"):
        tune(frame, "label", metric="accuracy")
    few = frame.assign(label=0)
    few.loc[[3, 4, 5], "label"] = 1
    with pytest.raises(ValueError, match="fewer than the 3 folds"):
        tune(few, "label")


def test_text_times_are_read_as_times_and_a_bad_one_is_named():
    frame = labelled(time=True)
    # as a CSV file gives them: text
    frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    as_text = tune(frame, "label", time_column="ts", budget=2, space=SMALL)
    assert set(as_text.test_rows) == set(range(480, 600))  # the last fifth in time
    frame.loc[33, "ts"] = "yesterday"
    with pytest.raises(ValueError, match="time column 'ts': row 33 holds 'yesterday'"):
        tune(frame, "label", time_column="ts", budget=2, space=SMALL)


def test_save_records_the_search_and_info_shows_it(tmp_path, capsys):
    result = tune(labelled(), "label", budget=3, space=SMALL)
    path = result.save(tmp_path / "tuned.farout")
    search = read_manifest(path)["search"]
    assert search["metric"] == "average_precision" and search["chosen"] == result.chosen
    assert len(search["candidates"]) == 3
    assert search["candidates"][0]["params"]["scaling"] == "standard"
    assert search["candidates"][0]["mean"] == pytest.approx(result.table.loc[0, "mean"])
    assert search["test"]["default"] == pytest.approx(result.test_scores["default"])
    loaded = load(path)  # the model itself is an ordinary one
    frame = labelled(seed=1)[["a", "b", "c"]]
    np.testing.assert_allclose(loaded.anomaly_score(frame), result.detector.anomaly_score(frame))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "search     3 candidates by average_precision over 3 stratified folds" in out
    assert "#0" in out and "[default" in out and "test split: chosen" in out


def test_a_progress_bar_only_when_asked(capsys):
    tune(labelled(), "label", budget=2, space=SMALL, progress=True)
    assert "tuning" in capsys.readouterr().err
    tune(labelled(), "label", budget=2, space=SMALL)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------ scorers
@pytest.mark.parametrize(
    "scorer",
    [average_precision_scorer, roc_auc_scorer, make_anomaly_scorer("precision_at_budget", 0.05)],
    ids=repr,
)
def test_scorers_work_in_grid_search(scorer):
    frame = labelled()
    X, y = frame[["a", "b", "c"]], frame["label"]
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        KMeansAnomalyDetector(random_state=0),
        {"score_mode": ["ensemble", "distance"]},
        scoring=scorer,
        cv=cv,
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # the first split's score is the scorer's own on that split
    train, test = next(cv.split(X, y))
    det = KMeansAnomalyDetector(score_mode="ensemble", random_state=0).fit(X.iloc[train])
    expected = scorer(det, X.iloc[test], y.iloc[test])
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(expected)


def test_scorers_work_in_randomized_search_and_with_other_detectors():
    frame = labelled()
    X, y = frame[["a", "b", "c"]], frame["label"]
    search = RandomizedSearchCV(
        KMeansAnomalyDetector(random_state=0),
        {"metric": ["euclidean", "manhattan"], "scaling": ["standard", "robust"]},
        n_iter=3,
        scoring={"ap": average_precision_scorer, "auc": roc_auc_scorer},
        refit="ap",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        random_state=0,
    ).fit(X, y)
    assert search.best_score_ > 0.5
    forest = IsolationForest(random_state=0).fit(X)  # scikit-learn's score_samples, negated
    assert roc_auc_scorer(forest, X, y) > 0.9
    assert roc_auc_scorer(forest, X, 1 - 2 * y) == roc_auc_scorer(forest, X, y)  # -1 = anomaly


def test_scorers_refuse_one_class():
    det = KMeansAnomalyDetector(2, random_state=0).fit(labelled()[["a", "b", "c"]])
    with pytest.raises(ValueError, match="hold only one class"):
        average_precision_scorer(det, labelled()[["a", "b", "c"]], np.zeros(600))
    assert repr(AnomalyScorer("precision_at_budget", 0.05)) == (
        "AnomalyScorer('precision_at_budget', alert_rate=0.05)"
    )


# ---------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("tune") / "labelled.csv"
    labelled(time=True).to_csv(path, index=False)
    return path


def test_cli_tune_writes_the_chosen_model_and_info_shows_the_search(labelled_csv, tmp_path):
    model = tmp_path / "tuned.farout"
    command = [sys.executable, "-m", "farout", "tune", str(labelled_csv), "--label", "label"]
    command += ["--time-column", "ts", "--budget", "3", "-o", str(model)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3 candidates by average_precision, over" in done.stdout
    assert "temporal folds" in done.stdout and "test split: chosen" in done.stdout
    assert f"model written to {model}" in done.stdout
    assert "tuning" not in done.stderr  # no bar when stderr is not a terminal
    search = read_manifest(model)["search"]
    chosen = search["candidates"][search["chosen"]]["params"]
    det = load(model)
    assert (det.score_mode, det.metric, det.scaling) == (
        chosen["score_mode"],
        chosen["metric"],
        chosen["scaling"],
    )
    info = subprocess.run(
        [sys.executable, "-m", "farout", "info", str(model)], capture_output=True, text=True
    )
    assert info.returncode == 0 and "search     3 candidates" in info.stdout
    json.dumps(search, allow_nan=False)  # the manifest is plain JSON


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "nope"], "no label column 'nope'"),
        (["--label", "label", "--time-column", "when"], "no time column 'when'"),
        (["--label", "label", "--budget", "0"], "budget must be a whole number >= 1"),
        (["--label", "label", "--test-size", "1.5"], "test_size must be in (0, 1)"),
    ],
)
def test_cli_tune_refuses_bad_input_in_one_line(labelled_csv, tmp_path, capsys, args, message):
    model = tmp_path / "m.farout"
    assert main(["tune", str(labelled_csv), "-o", str(model), "-q", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not model.exists()
