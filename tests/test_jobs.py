"""Streaming scoring of files: output equal to scoring in memory, row
numbers in errors, nothing left behind on failure."""

import numpy as np
import pandas as pd
import pytest

import farout.jobs.blocks
from farout import KMeansAnomalyDetector
from farout.exceptions import InputError
from farout.findings import RESULT_COLUMNS
from farout.jobs import score_file


@pytest.fixture
def model_and_frame(rng):
    frame = pd.DataFrame(rng.normal(size=(3000, 3)), columns=["a", "b", "c"])
    frame.loc[::500, "a"] += 9.0
    det = KMeansAnomalyDetector(3, random_state=0).fit(frame)
    return det, frame


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(farout.jobs.blocks, "CSV_BLOCK_BYTES", 4096)  # many blocks


def _expected(det, frame):
    return det.detect(frame)


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_csv_output_is_input_text_plus_results(tmp_path, model_and_frame, small_blocks, line_end):
    det, frame = model_and_frame
    src = tmp_path / "in.csv"
    src.write_bytes(frame.to_csv(index=False, lineterminator=line_end).encode())
    out = tmp_path / "out.csv"
    counts = score_file(det, src, out, progress=False)
    got = pd.read_csv(out)
    want = _expected(det, frame)
    assert counts == {"rows": 3000, "flagged": int(want["is_anomaly"].sum())}
    assert list(got.columns) == ["a", "b", "c", *RESULT_COLUMNS]
    np.testing.assert_allclose(got[["a", "b", "c"]], frame, rtol=1e-15)
    np.testing.assert_allclose(got["anomaly_score"], want["anomaly_score"], rtol=1e-12)
    np.testing.assert_array_equal(got["is_anomaly"], want["is_anomaly"])
    np.testing.assert_array_equal(got["cluster"], want["cluster"])
    flagged = want["is_anomaly"].to_numpy()
    assert list(got["reason"][flagged]) == list(want["reason"][flagged])
    # the input's own text is kept: the first line is copied byte for byte
    first_in = src.read_bytes().split(b"\n")[1].rstrip(b"\r")
    assert out.read_bytes().split(b"\n")[1].startswith(first_in + b",")


def test_csv_blank_lines_fall_back_to_rewriting(tmp_path, model_and_frame, small_blocks):
    det, frame = model_and_frame
    text = frame.to_csv(index=False).splitlines()
    text.insert(40, "")  # pandas skips blank lines: lines and rows differ
    src = tmp_path / "in.csv"
    src.write_text("\n".join(text) + "\n")
    out = tmp_path / "out.csv"
    score_file(det, src, out, progress=False)
    got = pd.read_csv(out)
    assert len(got) == 3000
    np.testing.assert_allclose(got["anomaly_score"], _expected(det, frame)["anomaly_score"])


def test_malformed_row_is_named_and_no_output_is_left(tmp_path, model_and_frame, small_blocks):
    det, frame = model_and_frame
    lines = frame.to_csv(index=False).splitlines()
    lines[2001] += ",7"  # row 2000: one field too many
    src = tmp_path / "in.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    with pytest.raises(InputError, match=r"row 2000 \(line 2002 of the file\) is malformed"):
        score_file(det, src, out, progress=False)
    assert list(tmp_path.iterdir()) == [src]


def test_file_cut_off_mid_row_names_the_row(tmp_path, model_and_frame, small_blocks):
    det, frame = model_and_frame
    text = frame.to_csv(index=False)
    src = tmp_path / "in.csv"
    src.write_text(text[: text.rindex(",")])  # the last row loses its last field
    with pytest.raises(InputError, match="row 2999 .* has 2 of the header's 3 fields"):
        score_file(det, src, tmp_path / "out.csv", progress=False)


def test_bad_value_is_named_with_its_row(tmp_path, model_and_frame, small_blocks):
    det, frame = model_and_frame
    lines = frame.to_csv(index=False).splitlines()
    lines[1235] = "1.0,oops,2.0"  # row 1234
    src = tmp_path / "in.csv"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="'b'.*row 1234.*'oops'"):
        score_file(det, src, tmp_path / "out.csv", progress=False)


@pytest.mark.parametrize("out_name", ["out.parquet", "out.csv", "out.jsonl"])
def test_parquet_input_in_batches(tmp_path, model_and_frame, out_name):
    det, frame = model_and_frame
    src = tmp_path / "in.parquet"
    frame.to_parquet(src, index=False)
    out = tmp_path / out_name
    counts = score_file(det, src, out, chunksize=700, progress=False)
    assert counts["rows"] == 3000
    got = {
        "out.parquet": pd.read_parquet,
        "out.csv": pd.read_csv,
        "out.jsonl": lambda p: pd.read_json(p, lines=True),
    }[out_name](out)
    assert len(got) == 3000
    np.testing.assert_allclose(got["a"], frame["a"])
    np.testing.assert_allclose(got["anomaly_score"], _expected(det, frame)["anomaly_score"])


# ----------------------------------------------------------- fitting on files
def _planted(rng, n=6000):
    X = np.vstack([rng.normal(c, 1.0, size=(n // 3, 4)) for c in (0.0, 6.0, 12.0)])
    y = np.zeros(len(X), dtype=bool)
    y[rng.choice(len(X), 30, replace=False)] = True
    X[y] += rng.choice([-1.0, 1.0], size=(30, 4)) * 8.0
    order = rng.permutation(len(X))
    return pd.DataFrame(X[order], columns=["a", "b", "c", "d"]), y[order]


def test_fit_file_that_fits_is_the_in_memory_fit(tmp_path, rng):
    from farout.jobs import fit_file

    frame, _ = _planted(rng)
    src = tmp_path / "in.csv"
    frame.to_csv(src, index=False)
    streamed = KMeansAnomalyDetector(random_state=0)
    counts = fit_file(streamed, src, sample_rows=10_000, progress=False)
    assert counts == {"rows": 6000, "sampled": 6000, "passes": 0}
    in_memory = KMeansAnomalyDetector(random_state=0).fit(pd.read_csv(src))
    np.testing.assert_allclose(streamed.anomaly_score(frame), in_memory.anomaly_score(frame))


@pytest.mark.parametrize("score_mode", ["ensemble", "distance"])
def test_fit_file_larger_than_the_sample(tmp_path, rng, small_blocks, score_mode):
    from sklearn.metrics import roc_auc_score

    from farout.jobs import fit_file

    frame, truth = _planted(rng)
    src = tmp_path / "in.parquet"
    frame.to_parquet(src, index=False)
    det = KMeansAnomalyDetector(3, score_mode=score_mode, random_state=0)
    counts = fit_file(det, src, sample_rows=800, chunksize=500, progress=False)
    assert counts == {"rows": 6000, "sampled": 800, "passes": 1}
    # every row (bar the trimmed) moved the clusters, not just the sample
    assert det.cluster_sizes_.sum() > 5000
    in_memory = KMeansAnomalyDetector(3, score_mode=score_mode, random_state=0).fit(frame)
    got, want = det.anomaly_score(frame), in_memory.anomaly_score(frame)
    assert np.corrcoef(got, want)[0, 1] > 0.98
    assert roc_auc_score(truth, got) > 0.95
    # the threshold was refitted on the sample: about 1% of rows flagged
    assert 0.003 < det.predict(frame).tolist().count(-1) / len(frame) < 0.03


def test_refine_clusters_leaves_ensemble_and_encoder_alone(rng):
    frame, _ = _planted(rng)
    det = KMeansAnomalyDetector(3, random_state=0).fit(frame.iloc[:1000])
    members = [m["centers"].copy() for m in det.ensemble_.members_]
    center = det.encoder_.center_.copy()
    before = det.cluster_sizes_.sum()
    det.refine_clusters(frame.iloc[1000:])
    assert det.cluster_sizes_.sum() > before + 4000
    for old, member in zip(members, det.ensemble_.members_, strict=True):
        np.testing.assert_array_equal(old, member["centers"])
    np.testing.assert_array_equal(center, det.encoder_.center_)


def test_fit_file_is_reproducible_with_the_detectors_seed(tmp_path, rng):
    from farout.jobs import fit_file

    frame, _ = _planted(rng)
    src = tmp_path / "in.parquet"
    frame.to_parquet(src, index=False)
    centres = []
    for _ in range(3):  # the sample once came from an unseeded generator
        det = KMeansAnomalyDetector(3, random_state=0)
        fit_file(det, src, sample_rows=800, chunksize=500, progress=False)
        centres.append(det.cluster_centers_)
    np.testing.assert_array_equal(centres[0], centres[1])
    np.testing.assert_array_equal(centres[0], centres[2])


def test_reservoir_keeps_the_smallest_keys_in_file_order(rng):
    from farout.jobs import Reservoir

    frame = pd.DataFrame({"x": np.arange(5000.0), "kind": ["a", "b"] * 2500})
    reservoir = Reservoir(700, np.random.default_rng(3))
    keys = np.random.default_rng(3)
    want = []
    for start in range(0, 5000, 333):
        block = frame.iloc[start : start + 333]
        want.append(keys.random(len(block)))
        reservoir.offer(block)
    want = np.sort(np.argsort(np.concatenate(want))[:700])
    sample = reservoir.frame()
    assert sample.index.tolist() == want.tolist()
    assert sample["x"].tolist() == want.astype(float).tolist()
    assert sample["kind"].tolist() == frame["kind"].iloc[want].tolist()
    assert reservoir.seen == 5000


def test_fit_file_keeps_keys_that_come_and_go_between_chunks(tmp_path):
    # JSON Lines: a key missing from some chunks is missing (NaN) there, as
    # pd.concat has it, whichever chunk brings it first
    from farout.jobs import fit_file

    rng = np.random.default_rng(0)
    for first, last in ((0, 200), (200, 400)):
        frame = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
        frame.loc[~frame.index.isin(range(first, last)), "c"] = np.nan
        src = tmp_path / f"in{first}.jsonl"
        src.write_text(frame.to_json(orient="records", lines=True).replace(',"c":null', ""))
        det = KMeansAnomalyDetector(2, random_state=0, missing="impute")
        fit_file(det, src, sample_rows=300, chunksize=100, progress=False)
        assert list(det.feature_names_in_) == ["a", "b", "c"]


@pytest.mark.parametrize("seed", [np.random.default_rng(5), np.random.RandomState(5)])
def test_fit_file_on_a_small_file_is_detector_fit_whatever_the_seed(tmp_path, rng, seed):
    import copy

    from farout.jobs import fit_file

    frame = pd.DataFrame(rng.normal(size=(500, 3)), columns=["a", "b", "c"])
    src = tmp_path / "in.csv"
    frame.to_csv(src, index=False)
    streamed = KMeansAnomalyDetector(3, random_state=copy.deepcopy(seed))
    fit_file(streamed, src, progress=False)
    in_memory = KMeansAnomalyDetector(3, random_state=copy.deepcopy(seed)).fit(frame)
    np.testing.assert_array_equal(streamed.anomaly_score(frame), in_memory.anomaly_score(frame))


def test_jsonl_output_round_trips_every_value(tmp_path, model_and_frame):
    """JSON Lines output rounded floats to 10 decimals (1.23456e-12 became 0.0)."""
    import json

    det, frame = model_and_frame
    frame = frame.copy()
    frame.loc[0, "a"] = 1.23456e-12
    frame.loc[1, "b"] = 123456789.123456789
    frame.loc[2, "c"] = 0.1 + 0.2
    src = tmp_path / "in.csv"
    src.write_text(frame.to_csv(index=False))
    out = tmp_path / "out.jsonl"
    score_file(det, src, out, progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    back = pd.DataFrame(rows)
    np.testing.assert_array_equal(back[["a", "b", "c"]].to_numpy(), frame.to_numpy())
    assert back.loc[0, "a"] == 1.23456e-12 and back.loc[1, "b"] == 123456789.123456789
    want = det.detect(frame)
    np.testing.assert_array_equal(back["anomaly_score"], want["anomaly_score"])
    assert back["is_anomaly"].tolist() == want["is_anomaly"].tolist()


@pytest.mark.parametrize(
    ("old", "names"),
    [
        ("farout.batch", ["score_file", "fit_file", "iter_frames", "read_dtypes", "model_columns"]),
        ("farout.preprocessing", ["FeatureEncoder", "as_anomaly_labels", "SCALINGS"]),
    ],
)
def test_the_0_2_import_paths_still_work_and_say_where_to_go(old, names):
    import importlib
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(FutureWarning, match=f"{old} is deprecated since farout 0.3"):
        module = importlib.import_module(old)
    assert all(callable(getattr(module, name)) or name == "SCALINGS" for name in names)
