import numpy as np
import pytest

from farout import InputError
from farout.evaluation import as_anomaly_labels, evaluate


@pytest.mark.parametrize(
    "labels",
    [[0, 1, 0, 1], [False, True, False, True], [1, -1, 1, -1], np.array([0.0, 1.0, 0.0, 1.0])],
)
def test_label_forms(labels):
    np.testing.assert_array_equal(as_anomaly_labels(labels), [False, True, False, True])


def test_metrics_by_hand():
    y = [0, 0, 0, 0, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.8, 0.9, 0.4]
    flags = [False, False, False, True, True, False]
    m = evaluate(y, scores, flags=flags)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 1, 3)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["alert_rate"] == pytest.approx(2 / 6)
    # 8 pairs (anomaly, normal); anomaly 0.9 beats 4, anomaly 0.4 beats 3
    assert m["roc_auc"] == pytest.approx(7 / 8)
    # ranking: 0.9(A) 0.8(N) 0.4(A): AP = (1/1 + 2/3) / 2
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)


def test_single_class_is_refused():
    with pytest.raises(InputError, match="only one class"):
        evaluate([0, 0, 0], [0.1, 0.2, 0.3])


def test_unknown_label_values_are_refused():
    with pytest.raises(InputError, match="labels must be 0/1"):
        evaluate([0, 2, 1], [0.1, 0.2, 0.3])


def test_threshold_and_precision_at_n():
    from farout.evaluation import threshold_sweep
    from farout.thresholds import Absolute

    y = [0, 0, 0, 0, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.8, 0.9, 0.4]
    by_cut = evaluate(y, scores, threshold=0.35)
    by_object = evaluate(y, scores, threshold=Absolute(0.35).fit(scores))
    assert by_cut == by_object
    assert (by_cut["tp"], by_cut["fp"]) == (2, 1)
    assert by_cut["confusion_matrix"] == [[3, 1], [0, 2]]
    assert by_cut["precision_at_n"] == 0.5  # top 2: 0.9 (A), 0.8 (N)
    sweep = threshold_sweep(y, scores)
    assert sweep["flagged"].tolist() == list(range(7))
    assert sweep["recall"].iloc[-1] == 1.0
