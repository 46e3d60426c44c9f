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


def test_evaluate_by_group_shows_the_weak_group():
    import pandas as pd

    from farout.evaluation import evaluate_by

    y = np.r_[[0] * 8 + [1] * 2, [0] * 8 + [1] * 2]
    good = np.r_[np.zeros(8), [5.0, 6.0]]
    bad = np.r_[np.full(8, 5.0), [0.0, 1.0]]
    groups = ["east"] * 10 + ["west"] * 10
    table = evaluate_by(y, np.r_[good, bad], pd.Series(groups, name="region"))
    assert table.index.name == "region"
    assert table.index[0] == "west" and table.loc["west", "roc_auc"] == 0.0
    assert table.loc["east", "roc_auc"] == 1.0


def test_temporal_folds_train_on_the_past():
    import pandas as pd

    from farout.model_selection import TemporalFolds, temporal_split

    df = pd.DataFrame({"t": np.random.default_rng(0).permutation(100)})
    for train, test in TemporalFolds(4, "t").split(df):
        assert df.t.iloc[train].max() < df.t.iloc[test].min()
    a, b, c = temporal_split(df, "t")
    assert (len(a), len(b), len(c)) == (70, 15, 15)
    assert a.t.max() < b.t.min() and b.t.max() < c.t.min()
    with pytest.raises(InputError, match="no time column 'when'"):
        temporal_split(df, "when")
