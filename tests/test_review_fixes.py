"""Regression tests for problems found in review."""

import io
import json
import os

import numpy as np
import pandas as pd
import pytest
from conftest import rewrite_zip, swap_array

from farout import InputError, KMeansAnomalyDetector, ModelFileError, load
from farout.thresholds import Percentile, TargetRecall


def test_detect_on_integer_column_names(rng):
    X = pd.DataFrame(rng.normal(size=(300, 3)))
    X.iloc[0] = 50.0
    table = KMeansAnomalyDetector(random_state=0).fit(X).detect(X)
    assert table["is_anomaly"].iloc[0]
    assert table["reason"].iloc[0].startswith(("0 50.00", "1 50.00", "2 50.00"))


def test_reasons_for_imputed_values_name_the_fill(rng):
    frame = pd.DataFrame(
        {
            "a": pd.array(rng.integers(0, 10, 200), dtype="Int64"),
            "b": rng.normal(size=200),
            "c": rng.choice(["x", "y"], 200),
        }
    )
    det = KMeansAnomalyDetector(missing="impute", random_state=0).fit(frame)
    new = pd.DataFrame({"a": pd.array([None], dtype="Int64"), "b": [np.nan], "c": [None]})
    reason = det.explain(new, top=3)["reason"].iloc[0]
    median_a = float(np.median(frame["a"].to_numpy(dtype=float)))
    assert f"a missing (filled with {median_a:.2f})" in reason
    assert "b missing (filled with" in reason and "c missing (filled with '" in reason
    assert "nan" not in reason.lower()


@pytest.mark.parametrize("score_mode", ["normalized", "ensemble"])
def test_partial_fit_then_save_scores_bit_for_bit(tmp_path, rng, score_mode):
    X = rng.normal(size=(1500, 3))
    det = KMeansAnomalyDetector(4, score_mode=score_mode, random_state=0).fit(X[:1000])
    det.partial_fit(X[1000:])
    det.save(tmp_path / "m.farout")
    back = load(tmp_path / "m.farout")
    np.testing.assert_array_equal(back.anomaly_score(X), det.anomaly_score(X))
    np.testing.assert_array_equal(back.cluster_sigma_, det.cluster_sigma_)


def test_numpy_scalars_in_parameters_save(tmp_path, rng):
    from farout.ensemble import BaggedKMeans

    det = KMeansAnomalyDetector(
        np.int64(3),
        k_range=(np.int64(2), np.int64(5)),
        random_state=np.int64(4),
        ensemble=BaggedKMeans(n_estimators=np.int64(5), random_state=np.random.RandomState(0)),
    ).fit(rng.normal(size=(200, 2)))
    det.save(tmp_path / "m.farout")
    back = load(tmp_path / "m.farout")
    assert back.get_params()["n_clusters"] == 3 and back.get_params()["random_state"] == 4


def test_loader_refuses_unknown_threshold_state_and_npz(tmp_path, toy):

    det = KMeansAnomalyDetector(2, random_state=0).fit(toy)
    det.save(tmp_path / "m.farout")

    def add_attribute(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["state"]["parts"]["threshold"]["arrays"].append("flag")
            manifest["arrays"]["threshold.flag"] = manifest["arrays"]["threshold.cut_"]
            return json.dumps(manifest)
        return data

    bad = rewrite_zip(tmp_path / "m.farout", tmp_path / "attr.farout", add_attribute)
    with pytest.raises(ModelFileError, match="unknown threshold attribute 'flag'"):
        load(bad)

    buffer = io.BytesIO()
    np.savez(buffer, a=np.zeros(3))
    bad = swap_array(
        tmp_path / "m.farout", tmp_path / "npz.farout", "clusters.stats.size", buffer.getvalue()
    )
    with pytest.raises(ModelFileError, match="clusters.stats.size"):
        load(bad)


def test_nearest_centre_is_right_far_from_the_origin(rng):
    from scipy.spatial.distance import cdist

    from farout._kernels.distance import nearest_centers

    C = rng.normal(size=(5, 4)) + 1e8
    X = C[rng.integers(0, 5, 2000)] + rng.normal(scale=0.3, size=(2000, 4))
    labels, dist = nearest_centers(X, C, "euclidean")
    full = cdist(X, C)
    np.testing.assert_array_equal(labels, full.argmin(axis=1))


def test_fit_threshold_keeps_tiers_unless_given(rng):
    from farout.thresholds import CostOptimal

    X = rng.normal(size=(400, 2))
    det = KMeansAnomalyDetector(2, tiers={"warn": Percentile(95)}, random_state=0).fit(X)
    before = det.tiers_[0][1].cut_
    X_val = np.vstack([rng.normal(size=(100, 2)), rng.normal(5, 1, (5, 2))])
    det.fit_threshold(X_val, np.r_[np.zeros(100), np.ones(5)], threshold=CostOptimal(1, 10))
    assert det.tiers_[0][1].cut_ == before


def test_label_threshold_without_anomalies_is_an_input_error():
    with pytest.raises(InputError, match="labelled as anomalies"):
        TargetRecall(0.9).fit(np.arange(10.0), y=np.zeros(10))


def test_array_into_a_model_with_categories_is_refused(mixed_frame):
    det = KMeansAnomalyDetector(2, random_state=0).fit(mixed_frame)
    with pytest.raises(InputError, match="categorical column.*'kind'.*DataFrame"):
        det.encoder_.encode(mixed_frame.to_numpy())


def test_evaluate_by_keeps_rows_with_a_missing_group():
    from farout.evaluation import evaluate_by

    groups = pd.Series(["a"] * 5 + [None] * 5)
    table = evaluate_by([0, 1] * 5, np.arange(10.0), groups)
    assert table["n"].sum() == 10


def test_output_files_are_plain_and_readable(tmp_path, toy):
    from farout.io import TableWriter

    with pytest.raises(InputError, match="compressed output"):
        TableWriter(tmp_path / "x.csv.gz")
    with pytest.raises(InputError, match="name the output"):
        TableWriter(tmp_path / "x.xlsx")
    out = tmp_path / "x.csv"
    with TableWriter(out) as writer:
        writer.write(pd.DataFrame({"a": [1]}))
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask
    KMeansAnomalyDetector(2, random_state=0).fit(toy).save(tmp_path / "m.farout")
    assert os.stat(tmp_path / "m.farout").st_mode & 0o777 == 0o666 & ~umask


def test_scoring_in_blocks_matches_and_names_the_right_row(monkeypatch, mixed_frame, rng):
    import farout.core.scoring as scoring_module

    det = KMeansAnomalyDetector(3, random_state=0).fit(mixed_frame)
    whole = det.detect(mixed_frame, reasons="all")
    monkeypatch.setattr(scoring_module, "SCORE_BLOCK", 7)
    pd.testing.assert_frame_equal(det.detect(mixed_frame, reasons="all"), whole)
    X = rng.normal(size=(50, 2))
    arr = KMeansAnomalyDetector(2, random_state=0).fit(X)
    X[23, 1] = np.nan
    with pytest.raises(InputError, match="first at row 23"):
        arr.anomaly_score(X)
