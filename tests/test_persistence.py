"""The model file: identical after a round trip, refused when not ours."""

import io
import json
import zipfile

import numpy as np
import pytest
from conftest import rewrite_zip, swap_array

from farout import KMeansAnomalyDetector, ModelFileError, load
from farout.persistence import FORMAT_VERSION
from farout.thresholds import Percentile, PerCluster


@pytest.fixture
def saved(tmp_path, mixed_frame):
    det = KMeansAnomalyDetector(3, tiers={"warn": Percentile(90)}, random_state=0).fit(mixed_frame)
    path = tmp_path / "model.farout"
    det.save(path)
    return det, path


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine", "mahalanobis"])
@pytest.mark.parametrize("threshold", [None, PerCluster(95)])
def test_round_trip_scores_bit_for_bit(tmp_path, mixed_frame, metric, threshold):
    det = KMeansAnomalyDetector(
        metric=metric,
        threshold=threshold,
        trim=0.02,
        tiers={"a": Percentile(80), "b": Percentile(95)},
        random_state=0,
    ).fit(mixed_frame)
    det.save(tmp_path / "m.farout")
    back = load(tmp_path / "m.farout")
    for method in ("anomaly_score", "decision_function", "predict", "severity"):
        a, b = getattr(det, method)(mixed_frame), getattr(back, method)(mixed_frame)
        assert a.equals(b), method
    assert det.explain(mixed_frame).equals(back.explain(mixed_frame))
    assert back.get_params()["metric"] == metric
    assert back.k_selection_.equals(det.k_selection_)
    np.testing.assert_array_equal(back.trimmed_, det.trimmed_)


def test_round_trip_for_array_input(tmp_path, toy):
    det = KMeansAnomalyDetector(2, random_state=0).fit(toy)
    det.save(tmp_path / "m.farout")
    back = load(tmp_path / "m.farout")
    np.testing.assert_array_equal(back.anomaly_score(toy), det.anomaly_score(toy))
    assert not hasattr(back, "feature_names_in_")


def test_partial_fit_continues_after_load(tmp_path, toy):
    det = KMeansAnomalyDetector(2, random_state=0).fit(toy)
    det.save(tmp_path / "m.farout")
    back = load(tmp_path / "m.farout")
    det.partial_fit(toy[:20])
    back.partial_fit(toy[:20])
    np.testing.assert_array_equal(back.cluster_centers_, det.cluster_centers_)


def test_manifest_is_plain_json_with_hashes(saved):
    _, path = saved
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = archive.namelist()
    assert manifest["format"] == "farout-model"
    assert manifest["format_version"] == FORMAT_VERSION
    state = manifest["state"]
    assert manifest["estimator"] == "KMeansAnomalyDetector"
    assert state["meta"]["feature_names"] == ["amount", "kind", "hour"]
    encoder = state["parts"]["encoder"]["meta"]
    kinds = [c["kind"] for c in encoder["columns"]]
    assert kinds == ["numeric", "categorical", "numeric"]
    assert encoder["columns"][1]["categories"] == ["a", "b", "c"]
    assert state["meta"]["tiers"] == ["warn"]
    assert state["parts"]["tier0"]["meta"]["type"] == "Percentile"
    # every array a state lists is in the file, under its dotted path
    assert "clusters.stats.dist_m2" in manifest["arrays"]
    assert set(state["parts"]["clusters"]["parts"]["stats"]["arrays"]) >= {"size", "dist_m2"}
    assert all(len(e["sha256"]) == 64 for e in manifest["arrays"].values())
    assert all(n == "manifest.json" or n.endswith(".npy") for n in names)


def test_tampered_array_is_refused(saved, tmp_path):
    _, path = saved

    def flip(name, data):
        if name == "arrays/clusters.cluster_centers.npy":
            return data[:-1] + bytes([data[-1] ^ 1])
        return data

    bad = rewrite_zip(path, tmp_path / "bad.farout", flip)
    with pytest.raises(ModelFileError, match="clusters.cluster_centers.*SHA-256"):
        load(bad)


def test_pickled_array_is_never_loaded(saved, tmp_path):
    _, path = saved
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    bad = swap_array(
        path, tmp_path / "pickle.farout", "clusters.cluster_centers", buffer.getvalue()
    )
    with pytest.raises(ModelFileError, match="not a plain array|dtype"):
        load(bad)


def test_truncated_file_is_refused(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.farout"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load(cut)


def test_future_version_is_refused(saved, tmp_path):
    _, path = saved

    def bump(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["format_version"] = FORMAT_VERSION + 1
            return json.dumps(manifest)
        return data

    bad = rewrite_zip(path, tmp_path / "future.farout", bump)
    with pytest.raises(ModelFileError, match="Upgrade farout"):
        load(bad)


def test_missing_array_is_refused(saved, tmp_path):
    _, path = saved
    bad = rewrite_zip(
        path,
        tmp_path / "gap.farout",
        lambda n, d: None if n.endswith("dist_m2.npy") else d,
    )
    with pytest.raises(ModelFileError, match="dist_m2.*missing"):
        load(bad)


@pytest.mark.parametrize(
    "content, match",
    [(b"not a zip at all", "not a zip"), (b"", "not a zip")],
)
def test_non_model_files_are_refused(tmp_path, content, match):
    path = tmp_path / "x.farout"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=match):
        load(path)


def test_foreign_zip_is_refused(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ModelFileError, match="no manifest.json"):
        load(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ModelFileError, match="not a farout model"):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load(tmp_path / "nope.farout")


def test_save_is_atomic(tmp_path, toy):
    det = KMeansAnomalyDetector(2, random_state=0).fit(toy)
    det.save(tmp_path / "m.farout")
    assert [p.name for p in tmp_path.iterdir()] == ["m.farout"]


@pytest.mark.parametrize("checker", ["iforest", "lof"])
def test_secondary_check_saves_and_loads_bit_for_bit(tmp_path, mixed_frame, checker):
    from farout import SecondaryCheck

    check = SecondaryCheck(
        KMeansAnomalyDetector(threshold=Percentile(90), random_state=0),
        checker=checker,
        random_state=0,
    ).fit(mixed_frame)
    back = load(check.save(tmp_path / "check.farout"))
    assert isinstance(back, SecondaryCheck)
    for method in ("decision_function", "predict"):
        np.testing.assert_array_equal(
            getattr(check, method)(mixed_frame), getattr(back, method)(mixed_frame)
        )
    assert check.detect(mixed_frame).equals(back.detect(mixed_frame))
    assert back.get_params()["checker"] == checker
    assert back.detector.threshold.get_params() == {"q": 90}


def test_detector_loader_refuses_a_secondary_check_file(tmp_path, mixed_frame):
    from farout import SecondaryCheck
    from farout.detector import load as load_detector

    path = SecondaryCheck(random_state=0).fit(mixed_frame).save(tmp_path / "check.farout")
    with pytest.raises(
        ModelFileError, match="holds a 'SecondaryCheck', not a KMeansAnomalyDetector"
    ):
        load_detector(path)


def test_load_names_an_unknown_estimator(tmp_path, saved):
    _, path = saved

    def change(member, data):
        if member == "manifest.json":
            manifest = json.loads(data)
            manifest["estimator"] = "SomethingElse"
            return json.dumps(manifest).encode()
        return data

    rewrite_zip(path, tmp_path / "other.farout", change)
    with pytest.raises(ModelFileError, match="holds a 'SomethingElse'; farout .* loads"):
        load(tmp_path / "other.farout")
