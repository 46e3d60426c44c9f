"""Reasons on near-constant features, tiny ratios and float-noise typical
values read as an analyst would say them (issue item 15)."""

import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from farout import KMeansAnomalyDetector, load
from farout.exceptions import ModelFileError
from farout.explain import ValueModes, _numeric_sentences
from farout.features.encoder import FeatureEncoder
from farout.persistence import read_model, write_state

N_A, N_B = 1831, 1000


@pytest.fixture(scope="module")
def frame():
    """Two clusters told apart by ``a``. In the first, ``flag`` is -0.06 in
    1,824 of its 1,831 rows (7 differ by 0.01), ``zero`` is 0 in all of them
    and ``w`` is +-0.7 around an exact mean of 0; ``b`` is positive."""
    rng = np.random.default_rng(0)
    flag = np.full(N_A, -0.06)
    flag[rng.choice(N_A, 7, replace=False)] += rng.choice([-0.01, 0.01], 7)
    first = pd.DataFrame(
        {
            "a": rng.normal(0, 1, N_A),
            "b": rng.normal(5, 0.5, N_A),
            "flag": flag,
            "zero": np.zeros(N_A),
            "w": np.r_[np.resize([0.7, -0.7], N_A - 1), 0.0],
        }
    )
    second = pd.DataFrame(
        {
            "a": rng.normal(50, 1, N_B),
            "b": rng.normal(5, 0.5, N_B),
            "flag": rng.normal(0, 30, N_B),
            "zero": rng.normal(5, 0.5, N_B),
            "w": rng.normal(3, 0.5, N_B),
        }
    )
    return pd.concat([first, second], ignore_index=True)


@pytest.fixture(scope="module")
def det(frame):
    return KMeansAnomalyDetector(n_clusters=2, score_mode="distance", random_state=0).fit(frame)


def _row(**values):
    row = {"a": 0.0, "b": 5.0, "flag": -0.06, "zero": 0.0, "w": 0.0}
    row.update(values)
    return pd.DataFrame([row])


def _sentence(reason, name):
    (found,) = [s for s in reason.split("; ") if s.startswith(f"{name} ")]
    return found


def _reason(det, row, top=5):
    return det.explain(row, top=top)["reason"].iloc[0]


def test_the_fixture_cluster_holds_the_near_constant_rows(det):
    first = int(det.predict_cluster(_row())[0])
    assert det.cluster_sizes_[first] == N_A
    flag = 2  # the third numeric column
    assert det.value_modes_.rows[first] == N_A
    assert det.value_modes_.count[first, flag] == N_A - 7


def test_a_near_constant_feature_names_its_value_and_how_many_rows_differ(det):
    reason = _reason(det, _row(flag=19.9))
    assert _sentence(reason, "flag") == (
        "flag 19.90 where this cluster's rows are almost always -0.06 (7 of 1,831 differ)"
    )
    # no standard deviations of a spread that is all but zero
    assert not re.search(r"[+-]\d{3,}\.\d sd", reason)


def test_a_feature_constant_in_its_cluster_says_all_rows_hold_it(det):
    sentence = _sentence(_reason(det, _row(zero=2.0)), "zero")
    assert sentence == "zero 2.00 where all 1,831 of this cluster's rows are 0.00"


def test_a_value_the_cluster_holds_reads_as_such(det):
    reason = _reason(det, _row())
    assert _sentence(reason, "flag") == (
        "flag -0.06, as almost all of this cluster's rows are (7 of 1,831 differ)"
    )
    assert _sentence(reason, "zero") == "zero 0.00, as all 1,831 of this cluster's rows are"


def test_a_float_noise_typical_value_prints_as_zero(det):
    sentence = _sentence(_reason(det, _row(w=3.0)), "w")
    assert sentence == "w 3.00 vs the cluster's typical 0.00 (+4.3 sd)"
    table = det.explain(_row(w=3.0), top=1)
    assert table["feature_1"].iloc[0] == "w"
    assert table["typical_1"].iloc[0] == 0.0


def test_a_tiny_ratio_never_reads_zero_x(det):
    reason = _reason(det, _row(b=0.1))
    typical = det.explain(_row(b=0.1), top=1)["typical_1"].iloc[0]
    assert _sentence(reason, "b").startswith(
        f"b 0.10 is 1/{round(typical / 0.1)} of the cluster's typical {typical:.2f} ("
    )
    assert "0.0x" not in reason


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (0.05, "0.1x"),
        (0.0499, "1/20 of"),
        (0.0384, "1/26 of"),
        (0.001, "1/1,000 of"),
        (0.0009, "under 1/1,000 of"),
        (1e-9, "under 1/1,000 of"),
        (2.5, "2.5x"),
    ],
)
def test_ratio_words(value, words):
    (sentence,) = _numeric_sentences(
        ["x"], np.array([value]), np.array([1.0]), np.array([0.0]), np.array([False]),
        [["1.00"]], [0], [0],
    )  # fmt: skip
    assert f" is {words} the cluster's typical 1.00 " in sentence


def test_no_reason_reads_zero_x_or_prints_float_noise(det, frame):
    rng = np.random.default_rng(1)
    rows = frame.sample(400, random_state=1).reset_index(drop=True)
    rows["b"] = rng.uniform(0.001, 0.2, len(rows))  # positive, far below typical
    reasons = det.detect(rows, reasons="all", top=5)["reason"]
    assert not reasons.str.contains("0.0x", regex=False).any()
    assert not reasons.str.contains(r"typical -?\d(?:\.\d+)?e-", regex=True).any()
    assert reasons.str.contains(" is 1/").any()


def test_detect_and_explain_give_the_same_reasons(det, frame):
    rows = pd.concat([_row(flag=19.9), _row(b=0.1), frame.head(5)], ignore_index=True)
    assert (
        det.detect(rows, reasons="all")["reason"].tolist() == det.explain(rows)["reason"].tolist()
    )


def test_value_modes_match_a_count_by_hand():
    rng = np.random.default_rng(2)
    X = np.c_[rng.integers(0, 4, 300), rng.normal(size=300), rng.integers(0, 2, 300)]
    encoder = FeatureEncoder().fit(X)
    Z, _ = encoder.encode(X)
    labels = rng.integers(0, 3, 300)
    labels[labels == 1] = 0  # cluster 1 is empty
    modes = ValueModes.from_rows(encoder, Z, labels, 3)
    assert modes.rows.tolist() == [int((labels == c).sum()) for c in range(3)]
    for c in (0, 2):
        for j in range(3):
            counts = Counter(Z[labels == c, j].tolist())
            most = max(counts.values())
            assert modes.count[c, j] == most
            assert modes.value[c, j] == min(v for v, n in counts.items() if n == most)
    assert modes.count[1].tolist() == [0, 0, 0]


def test_value_modes_skip_categorical_columns():
    X = pd.DataFrame({"x": [1.0, 1.0, 2.0, 3.0], "kind": ["a", "b", "a", "a"], "y": [0.0] * 4})
    encoder = FeatureEncoder().fit(X)
    Z, _ = encoder.encode(X)
    modes = ValueModes.from_rows(encoder, Z, np.zeros(4, dtype=np.intp), 1)
    assert modes.value.shape == (1, 2)
    assert modes.count.tolist() == [[2, 4]]


def test_near_constant_wording_with_a_categorical_column(frame):
    mixed = frame.assign(kind=np.where(frame["a"] > 25, "web", "card"))
    det = KMeansAnomalyDetector(n_clusters=2, score_mode="distance", random_state=0).fit(mixed)
    reason = _reason(det, _row(flag=19.9).assign(kind="card"), top=6)
    assert _sentence(reason, "flag") == (
        "flag 19.90 where this cluster's rows are almost always -0.06 (7 of 1,831 differ)"
    )
    assert "kind 'card' makes up 100% of its cluster" in reason


def test_save_and_load_keep_the_value_modes_and_the_reasons(det, frame, tmp_path):
    path = det.save(tmp_path / "m.farout")
    _, arrays = read_model(path)
    for name in ("value", "count", "rows"):
        np.testing.assert_array_equal(
            arrays[f"value_modes.{name}"], getattr(det.value_modes_, name)
        )
    loaded = load(path)
    for name in ("value", "count", "rows"):
        np.testing.assert_array_equal(
            getattr(loaded.value_modes_, name), getattr(det.value_modes_, name)
        )
    rows = pd.concat([_row(flag=19.9), _row(zero=2.0), _row(b=0.1), frame.head(50)])
    assert loaded.explain(rows)["reason"].tolist() == det.explain(rows)["reason"].tolist()
    assert _sentence(_reason(loaded, _row(flag=19.9)), "flag").endswith("(7 of 1,831 differ)")


def _without_modes(det, tmp_path):
    """A format-2 file as written before the value modes were counted."""
    state = det.get_state()
    del state["parts"]["value_modes"]
    path = tmp_path / "old.farout"
    write_state(path, "KMeansAnomalyDetector", state)
    return load(path)


def test_a_file_without_value_modes_keeps_its_sd_wording(det, tmp_path):
    old = _without_modes(det, tmp_path)
    assert old.value_modes_ is None
    reason = _reason(old, _row(flag=19.9))
    # the flag's seven differing rows give it a real (if tiny) spread
    assert re.fullmatch(
        r"flag 19\.90 vs the cluster's typical -0\.06 \(\+\d+\.\d sd\)", _sentence(reason, "flag")
    )
    # a spread that is float noise reads as a constant, without counts
    assert _sentence(_reason(old, _row(zero=2.0)), "zero") == (
        "zero 2.00 where this cluster's rows are almost always 0.00"
    )
    # the other reasons are those of the new model
    assert _sentence(reason, "b") == _sentence(_reason(det, _row(flag=19.9)), "b")


def test_value_modes_of_the_wrong_shape_are_refused(det, tmp_path):
    state = det.get_state()
    modes = state["parts"]["value_modes"]["arrays"]
    modes["value"], modes["count"] = modes["value"][:, :2], modes["count"][:, :2]
    path = tmp_path / "bad.farout"
    write_state(path, "KMeansAnomalyDetector", state)
    with pytest.raises(ModelFileError, match="value modes"):
        load(path)


@pytest.mark.parametrize("update", ["partial_fit", "refine_clusters"])
def test_a_cluster_that_absorbs_rows_drops_its_counts(frame, update):
    det = KMeansAnomalyDetector(n_clusters=2, score_mode="distance", random_state=0).fit(frame)
    first = int(det.predict_cluster(_row())[0])
    getattr(det, update)(frame.head(50))  # rows of the first cluster
    assert det.cluster_sizes_[first] > N_A
    sentence = _sentence(_reason(det, _row(flag=19.9)), "flag")
    assert "differ" not in sentence
    assert sentence.startswith("flag 19.90 vs the cluster's typical -0.06 (+")
    # the untouched constant column still reads as one, from its spread
    assert _sentence(_reason(det, _row(zero=2.0)), "zero") == (
        "zero 2.00 where this cluster's rows are almost always 0.00"
    )
