"""The detector's behaviour, checked against hand computations on toy data."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from farout import InputError, KMeansAnomalyDetector
from farout.thresholds import Absolute, MeanStd, Percentile, PerCluster

METRICS = ["euclidean", "manhattan", "cosine", "mahalanobis"]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("score_mode", ["ensemble", "distance", "normalized"])
def test_far_point_ranks_first(toy, metric, score_mode):
    det = KMeansAnomalyDetector(2, metric=metric, score_mode=score_mode, random_state=0).fit(toy)
    scores = det.anomaly_score(toy)
    assert np.argmax(scores) == len(toy) - 1
    assert det.predict(toy)[-1] == -1


def _scaled(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


@pytest.mark.parametrize("metric", METRICS)
def test_distance_matches_scipy_cdist(toy, metric):
    det = KMeansAnomalyDetector(2, metric=metric, score_mode="distance", random_state=0).fit(toy)
    Z = _scaled(toy)
    C = det.cluster_centers_
    if metric == "mahalanobis":
        VI = np.linalg.inv(np.cov(Z, rowvar=False))
        ref = cdist(Z, C, "mahalanobis", VI=VI)
    else:
        ref = cdist(Z, C, {"manhattan": "cityblock"}.get(metric, metric))
    np.testing.assert_allclose(det.anomaly_score(toy), ref.min(axis=1), rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(det.predict_cluster(toy), ref.argmin(axis=1))


def test_kmedians_centres_are_cluster_medians(toy):
    det = KMeansAnomalyDetector(2, metric="manhattan", random_state=0).fit(toy)
    keep = np.setdiff1d(np.arange(len(toy)), det.trimmed_)
    Z = _scaled(toy)
    for j in range(2):
        members = keep[det.labels_[keep] == j]
        np.testing.assert_allclose(det.cluster_centers_[j], np.median(Z[members], axis=0))


def test_normalized_score_is_distance_over_cluster_sigma(toy):
    det = KMeansAnomalyDetector(2, score_mode="normalized", random_state=0).fit(toy)
    raw = KMeansAnomalyDetector(2, score_mode="distance", random_state=0).fit(toy)
    d = raw.anomaly_score(toy)
    labels = det.labels_
    sigma = np.array([d[labels == j].std() for j in range(2)])
    np.testing.assert_allclose(det.cluster_sigma_, sigma)
    np.testing.assert_allclose(det.anomaly_score(toy), d / (sigma[labels] + det.eps_))


def test_single_point_cluster_uses_pooled_sigma():
    X = np.array([[0.0], [0.1], [0.2], [0.3], [10.0]])
    det = KMeansAnomalyDetector(2, scaling=None, score_mode="normalized", random_state=0).fit(X)
    lone = det.labels_[-1]
    assert det.cluster_sizes_[lone] == 1
    d = KMeansAnomalyDetector(2, scaling=None, score_mode="distance", random_state=0).fit(X)
    assert det.cluster_sigma_[lone] == pytest.approx(d.anomaly_score(X).std())
    assert np.isfinite(det.anomaly_score([[50.0]])).all()


def test_score_conventions(toy):
    det = KMeansAnomalyDetector(2, threshold=Percentile(90), random_state=0).fit(toy)
    a = det.anomaly_score(toy)
    np.testing.assert_array_equal(det.score_samples(toy), -a)
    np.testing.assert_allclose(det.decision_function(toy), -a - det.offset_)
    np.testing.assert_array_equal(det.predict(toy), np.where(det.decision_function(toy) < 0, -1, 1))
    np.testing.assert_array_equal(det.fit_predict(toy), det.predict(toy))


def test_default_threshold_flags_one_percent_of_training(rng):
    X = rng.normal(size=(5000, 4))
    det = KMeansAnomalyDetector(3, random_state=0).fit(X)
    assert det.threshold_.q == 99.0
    assert (det.predict(X) == -1).mean() == pytest.approx(0.01, abs=0.001)
    assert det.training_summary_["flagged_fraction"] == pytest.approx(0.01, abs=0.001)


@pytest.mark.parametrize(
    "threshold, expected_cut",
    [(Percentile(50), "median"), (MeanStd(1.0), "meanstd"), (Absolute(2.5), "abs")],
)
def test_threshold_cut_on_training_scores(toy, threshold, expected_cut):
    det = KMeansAnomalyDetector(2, threshold=threshold, random_state=0).fit(toy)
    s = det.anomaly_score(toy)
    cut = {"median": np.median(s), "meanstd": s.mean() + s.std(), "abs": 2.5}[expected_cut]
    assert det.threshold_.cut_ == pytest.approx(cut)


def test_per_cluster_threshold_cuts_each_cluster(rng):
    X = np.vstack([rng.normal(0, 1, (400, 2)), rng.normal(20, 5, (400, 2))])
    det = KMeansAnomalyDetector(
        2, score_mode="distance", scaling=None, threshold=PerCluster(95), random_state=0
    ).fit(X)
    d = det.anomaly_score(X)
    flags = det.predict(X) == -1
    for j in range(2):
        members = det.labels_ == j
        assert det.threshold_.cluster_cuts_[j] == pytest.approx(np.percentile(d[members], 95))
        assert flags[members].mean() == pytest.approx(0.05, abs=0.005)


def test_tiers_give_most_severe_name(toy):
    tiers = {"monitor": Percentile(50), "warning": Percentile(90), "critical": Absolute(1e9)}
    det = KMeansAnomalyDetector(2, tiers=tiers, random_state=0).fit(toy)
    s = det.anomaly_score(toy)
    sev = det.severity(toy)
    cut50, cut90 = np.percentile(s, 50), np.percentile(s, 90)
    assert all(v is None for v in sev[s <= cut50])
    assert set(sev[(s > cut50) & (s <= cut90)]) == {"monitor"}
    assert set(sev[s > cut90]) == {"warning"}


def test_trim_drops_planted_outliers_and_reports_them(rng):
    normal = np.vstack([rng.normal(c, 0.5, size=(200, 2)) for c in ([0, 0], [8, 0], [0, 8])])
    angle, radius = rng.uniform(0, 2 * np.pi, 12), rng.uniform(14, 20, 12)
    outliers = np.c_[radius * np.cos(angle) + 3, radius * np.sin(angle) + 3]
    X = np.vstack([normal, outliers])
    plain = KMeansAnomalyDetector(3, score_mode="normalized", random_state=0).fit(X)
    det = KMeansAnomalyDetector(3, score_mode="normalized", trim=0.02, random_state=0).fit(X)
    assert set(det.trimmed_.tolist()) == set(range(600, 612))
    assert det.n_trim_rounds_ >= 1
    assert det.cluster_sizes_.sum() == len(X) - len(det.trimmed_)
    # Scattered outliers inflate the clusters' spread until they are trimmed.
    assert det.anomaly_score(outliers).mean() > 3 * plain.anomaly_score(outliers).mean()


def test_reproducible_with_random_state(rng):
    X = rng.normal(size=(400, 3))
    a = KMeansAnomalyDetector(random_state=7).fit(X)
    b = KMeansAnomalyDetector(random_state=7).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.anomaly_score(X), b.anomaly_score(X))


@pytest.mark.parametrize("method", ["silhouette", "elbow"])
def test_auto_k_finds_blobs_and_keeps_table(rng, method):
    X = np.vstack([rng.normal(c, 0.3, size=(150, 2)) for c in ([0, 0], [6, 0], [0, 6], [6, 6])])
    det = KMeansAnomalyDetector(k_selection=method, random_state=0).fit(X)
    assert det.n_clusters_ == 4
    table = det.k_selection_
    assert table["k"].tolist() == list(range(2, 11))
    column = "silhouette" if method == "silhouette" else "inertia"
    assert table[column].notna().all()


def test_partial_fit_moves_centres_by_running_mean(rng):
    X = rng.normal(size=(300, 2))
    det = KMeansAnomalyDetector(1, scaling=None, trim=0, random_state=0).fit(X)
    before = det.cluster_centers_.copy()
    batch = rng.normal(3.0, 1.0, size=(100, 2))
    det.partial_fit(batch)
    expected = (before[0] * 300 + batch.sum(axis=0)) / 400
    np.testing.assert_allclose(det.cluster_centers_[0], expected)
    assert det.cluster_sizes_[0] == 400
    # the spread now describes all 400 rows around the updated centre... to
    # first order: it grew, because the batch sits away from the old centre
    raw = KMeansAnomalyDetector(1, scaling=None, trim=0, random_state=0).fit(X)
    assert det.cluster_sigma_[0] > raw.cluster_sigma_[0]


def test_partial_fit_cold_start_fits(rng):
    X = rng.normal(size=(200, 2))
    det = KMeansAnomalyDetector(2, random_state=0).partial_fit(X)
    assert det.n_clusters_ == 2 and hasattr(det, "threshold_")


def test_partial_fit_rejects_other_feature_count(rng):
    det = KMeansAnomalyDetector(2, random_state=0).fit(rng.normal(size=(50, 3)))
    with pytest.raises(ValueError, match="3 features"):
        det.partial_fit(rng.normal(size=(10, 2)))


# ------------------------------------------------------------ DataFrames
def test_dataframe_outputs_keep_index(mixed_frame):
    det = KMeansAnomalyDetector(3, random_state=0).fit(mixed_frame)
    for method in (
        "anomaly_score",
        "score_samples",
        "decision_function",
        "predict",
        "severity",
        "predict_cluster",
    ):
        out = getattr(det, method)(mixed_frame)
        assert isinstance(out, pd.Series)
        assert out.index.equals(mixed_frame.index)
    assert det.detect(mixed_frame).index.equals(mixed_frame.index)
    assert det.explain(mixed_frame.head(5)).index.equals(mixed_frame.index[:5])
    assert list(det.feature_names_in_) == ["amount", "kind", "hour"]


def test_categorical_columns_are_one_hot(mixed_frame):
    det = KMeansAnomalyDetector(3, random_state=0).fit(mixed_frame)
    assert det.cluster_centers_.shape[1] == 2 + 3
    assert det.encoder_.encoded_names_ == ["amount", "kind=a", "kind=b", "kind=c", "hour"]
    assert {c["kind"] for c in det.encoder_.columns_} == {"numeric", "categorical"}


def test_category_dtype_and_string_dtype_both_work(mixed_frame):
    as_cat = mixed_frame.assign(kind=mixed_frame["kind"].astype("category"))
    as_str = mixed_frame.assign(kind=mixed_frame["kind"].astype("string"))
    a = KMeansAnomalyDetector(3, random_state=0).fit(as_cat).anomaly_score(as_cat)
    b = KMeansAnomalyDetector(3, random_state=0).fit(as_str).anomaly_score(as_str)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy())


def test_unseen_category_is_scored_and_named(mixed_frame):
    det = KMeansAnomalyDetector(3, random_state=0).fit(mixed_frame)
    new = mixed_frame.head(2).copy()
    new.loc[new.index[0], "kind"] = "zebra"
    scores = det.anomaly_score(new)
    assert np.isfinite(scores).all()
    table = det.explain(new)
    assert "kind 'zebra' was never seen in training" in table["reason"].iloc[0]
    assert "zebra" not in table["reason"].iloc[1]


def test_reordered_columns_fail_with_names(mixed_frame):
    det = KMeansAnomalyDetector(3, random_state=0).fit(mixed_frame)
    with pytest.raises(ValueError, match="same order"):
        det.anomaly_score(mixed_frame[["hour", "kind", "amount"]])


def test_missing_column_is_named(mixed_frame):
    det = KMeansAnomalyDetector(3, random_state=0).fit(mixed_frame)
    with pytest.raises(ValueError, match="hour"):
        det.anomaly_score(mixed_frame[["amount", "kind"]])


def test_extra_column_is_named(mixed_frame):
    det = KMeansAnomalyDetector(3, random_state=0).fit(mixed_frame)
    with pytest.raises(ValueError, match="surprise"):
        det.anomaly_score(mixed_frame.assign(surprise=1.0))


# ----------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "bad, match", [(np.nan, "column 'x1'.*NaN.*row 3"), (np.inf, "column 'x1'.*inf.*row 3")]
)
def test_nonfinite_is_refused_with_column_and_row(rng, bad, match):
    X = rng.normal(size=(20, 3))
    X[3, 1] = bad
    with pytest.raises(InputError, match=match):
        KMeansAnomalyDetector(2).fit(X)


def test_nan_in_dataframe_names_column_and_row(mixed_frame):
    bad = mixed_frame.copy()
    bad.loc["t7", "amount"] = np.nan
    with pytest.raises(InputError, match=r"column 'amount'.*row 't7'.*missing='impute'"):
        KMeansAnomalyDetector(2).fit(bad)


def test_missing_impute_fills_with_training_median(mixed_frame):
    bad = mixed_frame.copy()
    bad.loc["t7", "amount"] = np.nan
    bad.loc["t8", "kind"] = None
    det = KMeansAnomalyDetector(2, missing="impute", random_state=0).fit(bad)
    filled = bad.copy()
    filled.loc["t7", "amount"] = mixed_frame["amount"].drop("t7").median()
    assert det.anomaly_score(bad)["t7"] == pytest.approx(det.anomaly_score(filled)["t7"])
    assert np.isfinite(det.anomaly_score(bad)).all()


@pytest.mark.parametrize("n_rows, match", [(0, "0 sample"), (1, "1 sample")])
def test_empty_and_single_row_are_refused(n_rows, match):
    with pytest.raises(ValueError, match=match):
        KMeansAnomalyDetector(1).fit(np.ones((n_rows, 2)))


def test_empty_dataframe_is_refused(mixed_frame):
    with pytest.raises(ValueError, match="0 sample"):
        KMeansAnomalyDetector(2).fit(mixed_frame.iloc[:0])


def test_unusable_column_is_named(mixed_frame):
    bad = mixed_frame.assign(when=pd.date_range("2024-01-01", periods=len(mixed_frame)))
    with pytest.raises(InputError, match="column 'when'.*exclude"):
        KMeansAnomalyDetector(2).fit(bad)


def test_mixed_object_column_is_named(mixed_frame):
    bad = mixed_frame.assign(junk=[{"a": 1}] * len(mixed_frame))
    with pytest.raises(InputError, match="column 'junk'"):
        KMeansAnomalyDetector(2).fit(bad)


def test_text_in_numeric_column_names_row(mixed_frame):
    det = KMeansAnomalyDetector(2, random_state=0).fit(mixed_frame)
    bad = mixed_frame.astype({"amount": object})
    bad.loc["t3", "amount"] = "twelve"
    with pytest.raises(InputError, match=r"column 'amount' must be numeric.*row 't3'.*'twelve'"):
        det.anomaly_score(bad)


def test_text_in_array_input_points_to_dataframes():
    X = np.array([[1.0, "a"], [2.0, "b"], [3.0, "c"]], dtype=object)
    with pytest.raises(InputError, match="pass a pandas DataFrame"):
        KMeansAnomalyDetector(2).fit(X)


def test_identifier_column_is_refused(mixed_frame):
    bad = mixed_frame.assign(customer=[f"c{i}" for i in range(len(mixed_frame))])
    with pytest.raises(InputError, match="column 'customer'.*distinct values.*max_categories"):
        KMeansAnomalyDetector(2).fit(bad)


def test_k_larger_than_distinct_rows(rng):
    X = np.repeat(rng.normal(size=(3, 2)), 10, axis=0)
    with pytest.raises(InputError, match="n_clusters=5 .* distinct rows \\(3\\)"):
        KMeansAnomalyDetector(5).fit(X)


def test_wrong_feature_count(rng):
    det = KMeansAnomalyDetector(2, random_state=0).fit(rng.normal(size=(50, 3)))
    with pytest.raises(
        ValueError, match="X has 2 features, but KMeansAnomalyDetector is expecting 3"
    ):
        det.predict(rng.normal(size=(5, 2)))


def test_huge_values_are_refused_clearly(rng):
    X = rng.normal(size=(50, 2))
    X[0, 0] = 1e308
    with pytest.raises(InputError, match="column 'x0'.*too large"):
        KMeansAnomalyDetector(2).fit(X)
    det = KMeansAnomalyDetector(2, random_state=0).fit(rng.normal(size=(50, 2)))
    with pytest.raises(InputError, match="column 'x1'.*row 0.*too large"):
        det.anomaly_score(np.array([[0.0, 1e308]]))


@pytest.mark.parametrize(
    "param, value",
    [
        ("metric", "chebyshev"),
        ("scaling", "log"),
        ("score_mode", "rank"),
        ("n_clusters", 0),
        ("n_clusters", "many"),
        ("trim", 0.7),
        ("threshold", 0.99),
        ("missing", "drop"),
        ("k_range", (5, 2)),
        ("tiers", {"x": 3}),
    ],
)
def test_bad_parameters_name_themselves(rng, param, value):
    with pytest.raises(InputError, match=param.split("_")[0]):
        KMeansAnomalyDetector(**{param: value}).fit(rng.normal(size=(30, 2)))


# ---------------------------------------------------------- explanations
@pytest.mark.parametrize("metric", METRICS)
def test_contributions_add_up_to_additive_distance(mixed_frame, metric):
    det = KMeansAnomalyDetector(3, metric=metric, score_mode="distance", random_state=0)
    det.fit(mixed_frame)
    contrib = det.feature_contributions(mixed_frame)
    assert list(contrib.columns) == ["amount", "kind", "hour"]
    d = det.anomaly_score(mixed_frame).to_numpy()
    additive = d if metric in ("manhattan", "cosine") else d**2
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), additive, rtol=1e-9, atol=1e-12)


def test_explain_names_the_outlying_feature(rng):
    frame = pd.DataFrame({"amount": rng.normal(100, 10, 300), "hour": rng.normal(12, 2, 300)})
    det = KMeansAnomalyDetector(1, trim=0, random_state=0).fit(frame)
    row = pd.DataFrame({"amount": [2500.0], "hour": [12.0]}, index=["suspect"])
    table = det.explain(row, top=2)
    assert table.loc["suspect", "feature_1"] == "amount"
    typical = frame["amount"].mean()
    ratio = 2500.0 / typical
    sd = (2500.0 - typical) / frame["amount"].std(ddof=0)
    expected = f"amount 2500.00 is {ratio:.1f}x the cluster's typical {typical:.2f} ({sd:+.1f} sd)"
    assert table.loc["suspect", "reason"].startswith(expected)
    assert table.loc["suspect", "share_1"] > 0.99


def test_detect_gives_reasons_for_flagged_rows_only(toy):
    det = KMeansAnomalyDetector(2, random_state=0).fit(toy)
    out = det.detect(toy)
    assert list(out.columns) == ["anomaly_score", "is_anomaly", "severity", "cluster", "reason"]
    assert (out["reason"] != "").equals(out["is_anomaly"])
    assert (det.detect(toy, reasons="all")["reason"] != "").all()


# ------------------------------------------------------------- ensemble
def test_ensemble_is_the_default_and_finds_what_normalized_misses(rng):
    from sklearn.metrics import roc_auc_score

    # Anomalies scattered widely around one spot: with k=3 they form a loose
    # cluster of their own, whose large spread hides them from A = D / sigma.
    X = np.vstack(
        [
            rng.normal([0, 0], 0.3, (500, 2)),
            rng.normal([5, 0], 0.3, (500, 2)),
            rng.normal([2.5, 6], 2.0, (40, 2)),
        ]
    )
    y = np.r_[np.zeros(1000), np.ones(40)]
    default = KMeansAnomalyDetector(3, random_state=0).fit(X)
    assert default.score_mode == "ensemble" and len(default.ensemble_.members_) == 25
    normalized = KMeansAnomalyDetector(3, score_mode="normalized", random_state=0).fit(X)
    assert roc_auc_score(y, default.anomaly_score(X)) > 0.99
    assert roc_auc_score(y, normalized.anomaly_score(X)) < 0.7


def test_ensemble_score_is_mean_member_distance(toy):
    from farout.ensemble import BaggedKMeans

    det = KMeansAnomalyDetector(
        2, ensemble=BaggedKMeans(n_estimators=3, max_samples=40), random_state=0
    ).fit(toy)
    Z = _scaled(toy)
    expected = np.zeros(len(toy))
    for member in det.ensemble_.members_:
        w = member["weights"]
        expected += cdist(Z * w, member["centers"] * w).min(axis=1)
    np.testing.assert_allclose(det.anomaly_score(toy), expected / 3, rtol=1e-9)
    assert det.ensemble_.metric == "euclidean"


def test_bad_ensemble_parameter():
    from farout.ensemble import BaggedKMeans

    with pytest.raises(InputError, match="trim"):
        KMeansAnomalyDetector(ensemble=BaggedKMeans(trim=0.9)).fit(np.random.rand(40, 2))
    with pytest.raises(InputError, match="ensemble.*must be"):
        KMeansAnomalyDetector(ensemble="bagged").fit(np.random.rand(40, 2))


def test_auto_trim_fits_the_clustering_on_rows_the_ensemble_finds_normal(toy):
    det = KMeansAnomalyDetector(2, random_state=0).fit(toy)
    assert len(det.trimmed_) == round(0.05 * len(toy))
    assert len(toy) - 1 in det.trimmed_  # the far point
    assert det.cluster_sizes_.sum() == len(toy) - len(det.trimmed_)
    plain = KMeansAnomalyDetector(2, score_mode="distance", random_state=0).fit(toy)
    assert len(plain.trimmed_) == 0


def test_public_schema_and_encoding(mixed_frame):
    det = KMeansAnomalyDetector(3, random_state=0).fit(mixed_frame)
    schema = det.feature_schema()
    assert [c["name"] for c in schema] == ["amount", "kind", "hour"]
    assert schema[1]["kind"] == "categorical" and schema[1]["categories"] == ["a", "b", "c"]
    schema[1]["categories"].append("z")  # a copy: the model is not changed
    assert det.feature_schema()[1]["categories"] == ["a", "b", "c"]
    Z = det.encode(mixed_frame.head(4))
    assert Z.shape == (4, len(det.encoded_names_)) == (4, 5)
    assert det.encoded_names_[1:4] == ["kind=a", "kind=b", "kind=c"]
    np.testing.assert_array_equal(Z[:, 1:4].sum(axis=1), np.ones(4))


def _fmt_reference(value):
    """The scalar number format the reasons used before they were built
    from arrays: the reference for ``explain._fmt_all``."""
    value = float(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 0.01):
        return f"{value:.3g}"
    return f"{value:.2f}"


def _numeric_text_reference(name, value, typical, sd, missing):
    shown = f"missing (filled with {_fmt_reference(value)})" if missing else _fmt_reference(value)
    if value > 0 and typical > 0 and abs(value - typical) < 1000 * typical:
        ratio = value / typical
        if ratio >= 0.05:
            times = f"{ratio:.1f}x"
        elif ratio >= 1e-3:
            times = f"1/{round(1 / ratio):,} of"
        else:
            times = "under 1/1,000 of"
        head = f"{name} {shown} is {times} the cluster's typical "
    else:
        head = f"{name} {shown} vs the cluster's typical "
    return f"{head}{_fmt_reference(typical)} ({sd:+.1f} sd)"


def test_reason_sentences_match_the_scalar_reference(rng):
    from farout.explain import _numeric_sentences

    edge = [
        0.0,
        -0.0,
        1e-3,
        -1e-3,
        0.01,
        0.005,
        1e6,
        -1e6,
        999999.4,
        1e300,
        np.inf,
        -np.inf,
        np.nan,
        5e-324,
        2.5,
        -2.5,
        12.345,
        1000.0,
    ]
    values = np.r_[edge, rng.normal(0, 100, 300), rng.lognormal(0, 8, 300)]
    typicals = np.r_[edge[::-1], rng.normal(0, 100, 300), rng.lognormal(0, 8, 300)]
    sds = np.r_[edge, rng.normal(0, 5, 600)]
    missing = rng.random(len(values)) < 0.1
    typical_table = [[_fmt_reference(t) for t in typicals]]
    got = _numeric_sentences(
        [f"f{i % 7}" for i in range(len(values))],
        values,
        typicals,
        sds,
        missing,
        typical_table,
        [0] * len(values),
        list(range(len(values))),
    )
    want = [
        _numeric_text_reference(f"f{i % 7}", v, t, s, m)
        for i, (v, t, s, m) in enumerate(zip(values, typicals, sds, missing, strict=True))
    ]
    assert got == want
