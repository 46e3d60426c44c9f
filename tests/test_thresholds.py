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
