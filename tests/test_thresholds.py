import numpy as np
import pytest

from farout import InputError
from farout.thresholds import (
    Absolute,
    Contamination,
    MeanStd,
    MedianSigma,
    Percentile,
    PerCluster,
    parse_threshold,
)

SCORES = np.arange(1.0, 101.0)  # 1..100


def test_percentile_and_contamination_agree():
    assert Percentile(95).fit(SCORES).cut_ == pytest.approx(np.percentile(SCORES, 95))
    assert Contamination(0.05).fit(SCORES).cut_ == pytest.approx(np.percentile(SCORES, 95))
    assert Percentile(95).fit(SCORES).flag(SCORES).sum() == 5


def test_meanstd_by_hand():
    s = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert MeanStd(2).fit(s).cut_ == pytest.approx(3.0 + 2 * np.sqrt(2.0))


def test_absolute_ignores_scores():
    assert Absolute(7.5).fit(SCORES).cut_ == 7.5


def test_median_sigma_by_hand():
    scores = np.array([0.0, 2.0, 10.0, 14.0, 5.0, 5.0])
    clusters = np.array([0, 0, 1, 1, 2, 2])  # sigmas 1, 2, 0 -> median 1
    assert MedianSigma(3).fit(scores, clusters).cut_ == pytest.approx(3.0)


def test_per_cluster_small_cluster_falls_back_to_global():
    scores = np.r_[np.arange(100.0), [500.0]]
    clusters = np.r_[np.zeros(100, int), [1]]
    t = PerCluster(90, min_size=20).fit(scores, clusters)
    assert t.cluster_cuts_[0] == pytest.approx(np.percentile(np.arange(100.0), 90))
    assert t.cluster_cuts_[1] == pytest.approx(np.percentile(scores, 90))


@pytest.mark.parametrize(
    "threshold, param",
    [
        (Percentile(100), "q"),
        (Contamination(0.7), "contamination"),
        (MeanStd(np.nan), "n_std"),
        (MedianSigma(-1), "multiplier"),
    ],
)
def test_bad_parameters_are_named(threshold, param):
    with pytest.raises(InputError, match=param):
        threshold.fit(SCORES)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("percentile:95", Percentile(95.0)),
        ("contamination:0.02", Contamination(0.02)),
        ("meanstd:3", MeanStd(3.0)),
        ("absolute:4.5", Absolute(4.5)),
        ("percluster:99", PerCluster(99.0)),
        ("mediansigma:2", MedianSigma(2.0)),
        ("Percentile", Percentile()),
    ],
)
def test_parse(spec, expected):
    assert repr(parse_threshold(spec)) == repr(expected)


def test_parse_errors():
    with pytest.raises(InputError, match="unknown threshold 'p99'"):
        parse_threshold("p99")
    with pytest.raises(InputError, match="'x' is not a number"):
        parse_threshold("percentile:x")


# ------------------------------------------------------- label thresholds
from farout.thresholds import (  # noqa: E402
    CostOptimal,
    FalsePositiveRate,
    TargetPrecision,
    TargetRecall,
    cut_table,
)

# Worked by hand: scores sorted high to low 0.9(A) 0.8(N) 0.6(A) 0.5(N) 0.3(N) 0.2(A)
TOY_SCORES = np.array([0.5, 0.9, 0.3, 0.6, 0.8, 0.2])
TOY_TRUTH = np.array([0, 1, 0, 1, 0, 1])


def test_cut_table_by_hand():
    table = cut_table(TOY_TRUTH.astype(bool), TOY_SCORES)
    assert table["tp"].tolist() == [0, 1, 1, 2, 2, 2, 3]
    assert table["fp"].tolist() == [0, 0, 1, 1, 2, 3, 3]
    assert table["cut"][:6].tolist() == [0.9, 0.8, 0.6, 0.5, 0.3, 0.2]
    assert table["cut"][6] < 0.2


@pytest.mark.parametrize(
    "fp_cost, fn_cost, expected_cut, expected_cost",
    [
        # flag nothing: 3 misses x 1 = 3; flag top 1: 2; top 3 (0.9,0.8,0.6): 1 fp + 1 fn = 2;
        # ... the cheapest is flagging only 0.9 at cost 2 (ties go to the higher cut)
        (1, 1, 0.8, 2.0),
        # a miss costs 5,000, an investigation 50: flag all six = 3 x 50 = 150
        (50, 5000, "all", 150.0),
        # an investigation costs 10x a miss: flag only the sure one, 0.9 (2 misses)
        (10, 1, 0.8, 2.0),
    ],
)
def test_cost_optimal_cut_by_hand(fp_cost, fn_cost, expected_cut, expected_cost):
    t = CostOptimal(fp_cost=fp_cost, fn_cost=fn_cost).fit(TOY_SCORES, y=TOY_TRUTH)
    if expected_cut == "all":
        assert t.flag(TOY_SCORES).all()
    else:
        assert t.cut_ == expected_cut
    assert t.expected_cost_ == expected_cost


def test_target_precision_and_recall_by_hand():
    # precision >= 2/3 is reached flagging 0.9,0.8,0.6 (2/3); lowest such cut = 0.5
    assert TargetPrecision(0.66).fit(TOY_SCORES, y=TOY_TRUTH).cut_ == 0.5
    # recall >= 2/3 first reached flagging 0.9, 0.8, 0.6: cut 0.5
    assert TargetRecall(0.6).fit(TOY_SCORES, y=TOY_TRUTH).cut_ == 0.5
    assert TargetRecall(1.0).fit(TOY_SCORES, y=TOY_TRUTH).flag(TOY_SCORES).all()
    with pytest.raises(InputError, match="no cut reaches precision"):
        TargetPrecision(1.0).fit(np.array([0.9, 0.1]), y=[0, 1])


def test_label_thresholds_need_labels():
    with pytest.raises(InputError, match="CostOptimal needs labels"):
        CostOptimal().fit(TOY_SCORES)


def test_false_positive_rate_uses_normal_rows():
    normal = np.arange(100.0)
    scores = np.r_[normal, [1000.0] * 20]
    truth = np.r_[np.zeros(100), np.ones(20)]
    t = FalsePositiveRate(0.05).fit(scores, y=truth)
    assert (t.flag(normal)).mean() == pytest.approx(0.05, abs=0.011)
    unlabelled = FalsePositiveRate(0.05).fit(scores)
    assert unlabelled.cut_ > t.cut_


def test_detector_fit_threshold_on_validation(rng, tmp_path):
    from farout import KMeansAnomalyDetector, load

    X = rng.normal(size=(500, 2))
    X_val = np.vstack([rng.normal(size=(200, 2)), rng.normal(5, 1, size=(20, 2))])
    y_val = np.r_[np.zeros(200), np.ones(20)]
    det = KMeansAnomalyDetector(2, random_state=0).fit(X)
    det.fit_threshold(X_val, y_val, threshold=CostOptimal(fp_cost=50, fn_cost=5000))
    assert isinstance(det.threshold_, CostOptimal)
    flagged = det.predict(X_val) == -1
    assert flagged[200:].all()
    det.save(tmp_path / "m.farout")
    back = load(tmp_path / "m.farout")
    assert back.threshold_.cut_ == det.threshold_.cut_
    assert back.threshold_.expected_cost_ == det.threshold_.expected_cost_
    np.testing.assert_array_equal(back.predict(X_val), det.predict(X_val))


def test_detector_fit_with_labels_for_label_threshold(rng):
    from farout import KMeansAnomalyDetector

    X = np.vstack([rng.normal(size=(300, 2)), rng.normal(6, 1, size=(10, 2))])
    y = np.r_[np.zeros(300), np.ones(10)]
    det = KMeansAnomalyDetector(1, threshold=TargetRecall(1.0), random_state=0).fit(X, y)
    assert (det.predict(X)[300:] == -1).all()
    with pytest.raises(InputError, match="needs labels"):
        KMeansAnomalyDetector(1, threshold=TargetRecall(1.0)).fit(X)
