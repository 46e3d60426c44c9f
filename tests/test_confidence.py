"""predict_proba, predict_confidence and the borderline band (issue 16):
ExCeeD's probability that a row is flagged, checked against the formula
written out row by row, against what it promises on the training data, and
through detect, the model file, the file jobs and the command line."""

import os

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from farout import InputError, KMeansAnomalyDetector, load
from farout.cli import main
from farout.confidence import flag_probability, reference_sample
from farout.jobs import score_file
from farout.thresholds import FalsePositiveRate, Percentile, PerCluster

COMPAT = os.path.join(os.path.dirname(__file__), "data", "models-0.2.0")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (1500, 3)), rng.normal(6, 1.5, (1500, 3))])
    return pd.DataFrame(X, columns=["a", "b", "c"], index=pd.RangeIndex(100, 3100))


@pytest.fixture(scope="module")
def model(data):
    return KMeansAnomalyDetector(2, random_state=0).fit(data)


def _exceed_reference(score, train_scores, rate):
    """ExCeeD for one row as the paper writes it: psi from the count of
    training scores at or below it, then P(Binomial(n, psi) >= m)."""
    n = len(train_scores)
    psi = (1 + np.count_nonzero(train_scores <= score)) / (2 + n)
    m = n - int(round(n * rate))
    return 1.0 - binom.cdf(m - 1, n, psi)


def test_flag_probability_is_the_exceed_formula():
    rng = np.random.default_rng(1)
    train = rng.gamma(2.0, size=800)
    threshold = Percentile(97).fit(train)
    reference, labels = reference_sample(train, np.zeros(800, dtype=np.intp))
    rate = threshold.flag(train).mean()
    rows = np.concatenate([rng.gamma(2.0, size=200), [threshold.cut_, 0.0, 1e6]])
    got = flag_probability(rows, np.zeros(len(rows), dtype=np.intp), reference, labels, threshold)
    want = [_exceed_reference(s, train, rate) for s in rows]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)  # 1 - cdf loses tiny tails


@pytest.mark.parametrize("threshold", [Percentile(99), Percentile(90), PerCluster(q=95)])
def test_on_the_training_rows_the_probability_averages_the_flag_rate(threshold):
    rng = np.random.default_rng(2)
    scores, labels = rng.gamma(2.0, size=5000), rng.integers(0, 3, 5000)
    threshold.fit(scores, labels, n_clusters=3)
    reference, ref_labels = reference_sample(scores, labels)
    p = flag_probability(scores, labels, reference, ref_labels, threshold)
    flags = threshold.flag(scores, labels)
    assert abs(p.mean() - flags.mean()) < 2e-3
    # the flag and the probability agree: above 0.5 exactly where flagged
    assert (p[flags] > 0.5).all() and (p[~flags] < 0.5).all()


def test_probability_rises_with_the_score_and_is_one_half_at_the_cut(model, data):
    scores = np.sort(model.anomaly_score(data).to_numpy())
    reference, labels = model.score_reference_
    p = flag_probability(
        scores, np.zeros(len(scores), dtype=np.intp), reference, labels, model.threshold_
    )
    assert (np.diff(p) >= 0).all()
    at_cut = flag_probability([model.threshold_.cut_], [0], reference, labels, model.threshold_)
    assert 0.4 < at_cut[0] < 0.6


def test_predict_proba_and_confidence(model, data):
    proba = model.predict_proba(data)
    assert proba.shape == (len(data), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert abs(proba[:, 1].mean() - model.training_summary_["flagged_fraction"]) < 2e-3
    confidence = model.predict_confidence(data)
    assert isinstance(confidence, pd.Series) and confidence.index.equals(data.index)
    assert confidence.between(0.5, 1.0).all()
    flagged = model.predict(data) == -1
    np.testing.assert_allclose(confidence[flagged], proba[flagged, 1])
    np.testing.assert_allclose(confidence[~flagged], proba[~flagged, 0])
    array_model = KMeansAnomalyDetector(2, random_state=0).fit(data.to_numpy())
    assert isinstance(array_model.predict_confidence(data.to_numpy()), np.ndarray)


def test_detect_gives_both_columns_when_asked(model, data):
    plain = model.detect(data)
    assert "confidence" not in plain
    both = model.detect(data, confidence=True)
    assert list(both.columns[:5]) == list(plain.columns)
    pd.testing.assert_frame_equal(both[plain.columns], plain)
    np.testing.assert_allclose(both["anomaly_probability"], model.predict_proba(data)[:, 1])
    pd.testing.assert_series_equal(
        both["confidence"], model.predict_confidence(data), check_names=False
    )


def test_borderline_marks_exactly_the_unsure_rows(data):
    det = KMeansAnomalyDetector(
        2, borderline=0.9, tiers={"warning": Percentile(99)}, random_state=0
    ).fit(data)
    found = det.detect(data, confidence=True)
    unsure = found["confidence"] < 0.9
    assert unsure.any()
    assert (found.loc[unsure, "severity"] == "borderline").all()
    assert not (found.loc[~unsure, "severity"] == "borderline").any()
    pd.testing.assert_series_equal(det.severity(data), found["severity"], check_names=False)
    # the scores and flags are those of the same model without the band
    same = KMeansAnomalyDetector(2, tiers={"warning": Percentile(99)}, random_state=0).fit(data)
    pd.testing.assert_frame_equal(
        same.detect(data)[["anomaly_score", "is_anomaly"]], found[["anomaly_score", "is_anomaly"]]
    )
    assert "borderline" not in set(same.detect(data)["severity"].dropna())


@pytest.mark.parametrize("level", [0.5, 1.0, 0.2, "high"])
def test_borderline_outside_its_range_is_refused(data, level):
    with pytest.raises(InputError, match="borderline"):
        KMeansAnomalyDetector(2, borderline=level).fit(data)


def test_the_reference_is_saved_and_follows_a_refitted_threshold(model, data, tmp_path):
    model.save(tmp_path / "m.farout")
    back = load(tmp_path / "m.farout")
    np.testing.assert_array_equal(back.predict_proba(data), model.predict_proba(data))
    refit = load(tmp_path / "m.farout").fit_threshold(
        data.iloc[:1000], threshold=FalsePositiveRate(0.1)
    )
    assert len(refit.score_reference_[0]) == 1000
    assert abs(refit.predict_proba(data.iloc[:1000])[:, 1].mean() - 0.1) < 3e-3


def test_a_0_2_0_model_asks_for_a_refitted_threshold_first():
    det = load(os.path.join(COMPAT, "default.farout"))
    rows = pd.read_csv(os.path.join(COMPAT, "rows.csv"))[list(det.feature_names_in_)].fillna(0.0)
    with pytest.raises(InputError, match="fit_threshold"):
        det.predict_proba(rows)
    # its severities stay those of 0.2.0: no band unless asked for
    assert det.borderline is None
    det.fit_threshold(rows)
    assert det.predict_proba(rows).shape == (len(rows), 2)


def test_a_damaged_reference_is_refused(model, tmp_path):
    from farout.exceptions import ModelFileError

    state = model.get_state()
    state["parts"]["score_reference"]["arrays"]["scores"] = state["parts"]["score_reference"][
        "arrays"
    ]["scores"][::-1]
    with pytest.raises(ModelFileError, match="not sorted"):
        KMeansAnomalyDetector.from_state(state)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_score_file_writes_the_confidence_columns(data, tmp_path, suffix):
    det = KMeansAnomalyDetector(2, borderline=0.95, random_state=0).fit(data)
    data.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / f"out{suffix}"
    score_file(det, tmp_path / "in.csv", out, confidence=True, progress=False)
    got = {
        ".csv": pd.read_csv,
        ".parquet": pd.read_parquet,
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }[suffix](out)
    want = det.detect(data.reset_index(drop=True), confidence=True)
    assert list(got.columns[-7:]) == list(want.columns)
    np.testing.assert_allclose(got["anomaly_probability"], want["anomaly_probability"])
    np.testing.assert_allclose(got["confidence"], want["confidence"])
    assert (got["severity"].fillna("") == want["severity"].fillna("")).all()


def test_the_fast_csv_path_writes_borderline_too(data, tmp_path):
    det = KMeansAnomalyDetector(2, borderline=0.95, random_state=0).fit(data)
    data.to_csv(tmp_path / "in.csv", index=False)
    score_file(det, tmp_path / "in.csv", tmp_path / "out.csv", progress=False)
    got = pd.read_csv(tmp_path / "out.csv")
    want = det.detect(data.reset_index(drop=True))
    assert (got["severity"].fillna("") == want["severity"].fillna("")).all()
    assert (got["severity"] == "borderline").any()


def test_the_command_line_fits_a_band_and_writes_confidence(data, tmp_path, capsys):
    data.to_csv(tmp_path / "in.csv", index=False)
    model = tmp_path / "m.farout"
    assert (
        main(["fit", str(tmp_path / "in.csv"), "-o", str(model), "--borderline", "0.9", "-q"]) == 0
    )
    assert load(model).borderline == 0.9
    out = tmp_path / "out.csv"
    assert (
        main(
            [
                "score",
                str(tmp_path / "in.csv"),
                "-m",
                str(model),
                "-o",
                str(out),
                "--confidence",
                "-q",
            ]
        )
        == 0
    )
    assert {"anomaly_probability", "confidence"} <= set(pd.read_csv(out).columns)
    capsys.readouterr()
    assert main(["fit", str(tmp_path / "in.csv"), "-o", str(model), "--borderline", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "borderline" in err[0]
