"""farout on Dask: the fit and the scores a real LocalCluster (two worker
processes, one thread each) gives are the ones the detector gives in
memory, including when a worker dies mid-job."""

import os
import pickle
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from farout import KMeansAnomalyDetector, load  # noqa: E402
from farout._kernels.distance import nearest_centers_numpy  # noqa: E402
from farout.cli import main  # noqa: E402
from farout.distributed import (  # noqa: E402
    ParallelPostFit,
    connect,
    fit_dask,
    score_dask,
)
from farout.distributed.scoring import TEXT  # noqa: E402
from farout.exceptions import InputError  # noqa: E402

pytestmark = [
    # A worker killed on purpose makes distributed's comms close streams
    # mid-flight; its tornado/asyncio layer reports those as ResourceWarning
    # (unclosed sockets and transports) when they are collected. Harmless:
    # the scheduler has already moved the work; nothing of farout's leaks.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    # When the cluster closes, distributed may warn that a worker's nanny
    # was still restarting (the killed one): harmless at shutdown.
    pytest.mark.filterwarnings("ignore:.*[Nn]anny.*:UserWarning"),
]

RTOL = 1e-9


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _table(n=12_000, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0, 0, 0], [6, 6, 0, 0], [0, 6, 6, 3]])
    X = centres[rng.integers(0, 3, n)] + rng.normal(0, 1, (n, 4))
    X[rng.choice(n, 30, replace=False)] += rng.normal(0, 12, (30, 4))  # anomalies
    frame = pd.DataFrame(X, columns=["amount", "age", "rate", "load"])
    frame["count"] = rng.integers(0, 9, n)  # an integer column too
    return frame


@pytest.fixture(scope="module")
def table():
    return _table()


def _assert_same_model(got, want):
    np.testing.assert_allclose(got.cluster_centers_, want.cluster_centers_, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(got.cluster_sigma_, want.cluster_sigma_, rtol=RTOL)
    np.testing.assert_array_equal(got.cluster_sizes_, want.cluster_sizes_)
    np.testing.assert_array_equal(got.trimmed_, want.trimmed_)
    np.testing.assert_allclose(got.encoder_.center_, want.encoder_.center_, rtol=RTOL)
    np.testing.assert_allclose(got.encoder_.scale_, want.encoder_.scale_, rtol=RTOL)
    assert got.n_clusters_ == want.n_clusters_
    assert got.threshold_.cut_ == pytest.approx(want.threshold_.cut_, rel=RTOL)
    assert got.offset_ == pytest.approx(want.offset_, rel=RTOL)
    assert got.training_summary_["n_rows"] == want.training_summary_["n_rows"]
    assert got.training_summary_["n_rows_fitted"] == want.training_summary_["n_rows_fitted"]


@pytest.mark.parametrize(
    "params",
    [
        {"n_clusters": 3},
        {"n_clusters": 3, "score_mode": "normalized", "metric": "cosine", "scaling": "minmax"},
        {"n_clusters": "auto", "k_range": (2, 4), "score_mode": "distance", "scaling": None},
    ],
    ids=["ensemble", "normalized-cosine-minmax", "auto-k-distance"],
)
def test_fit_dask_dataframe_is_the_in_memory_fit(client, table, params):
    params = {**params, "max_fit_rows": 5_000, "random_state": 7}
    want = KMeansAnomalyDetector(**params).fit(table)
    got = fit_dask(KMeansAnomalyDetector(**params), dd.from_pandas(table, npartitions=5))
    _assert_same_model(got, want)
    assert list(got.feature_names_in_) == list(table.columns)
    assert "labels_" not in vars(got)
    np.testing.assert_allclose(got.anomaly_score(table), want.anomaly_score(table), rtol=RTOL)
    np.testing.assert_array_equal(got.predict(table), want.predict(table))


def test_fit_dask_array_is_the_in_memory_fit_and_unequal_chunks_do_not_matter(client, table):
    X = table.to_numpy(dtype=np.float32)
    params = {"n_clusters": 3, "max_fit_rows": 4_000, "random_state": 1}
    want = KMeansAnomalyDetector(**params).fit(X)
    got = fit_dask(KMeansAnomalyDetector(**params), da.from_array(X, chunks=(2_500, 2)))
    _assert_same_model(got, want)
    # the whole table in memory (no sample) and one odd chunking
    small = X[:3_000]
    want = KMeansAnomalyDetector(n_clusters=3, random_state=2).fit(small)
    got = fit_dask(
        KMeansAnomalyDetector(n_clusters=3, random_state=2),
        da.from_array(small, chunks=((1000, 7, 1993), (5,))),
    )
    _assert_same_model(got, want)


def test_score_dask_is_detect_lazily_with_the_input_columns_and_meta(client, table):
    model = KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(table)
    ddf = dd.from_pandas(table.assign(id=np.arange(len(table))), npartitions=4)
    scored = score_dask(model, ddf, reasons="flagged")
    assert scored.npartitions == 4
    assert list(scored.columns) == [*ddf.columns, *model.detect(table[:2]).columns]
    got = scored.compute()
    assert dict(got.dtypes) == dict(scored.dtypes)  # meta is right
    want = pd.concat([table.assign(id=np.arange(len(table))), _detect(model, table)], axis=1)
    pd.testing.assert_frame_equal(got, want)  # the same scores, exactly
    assert got["reason"].str.len().gt(0).sum() == got["is_anomaly"].sum()


def _detect(model, X):
    """``model.detect(X)`` with its text columns in the one dtype Dask's
    partitions share (detect infers it from the values)."""
    return model.detect(X).astype({"severity": TEXT, "reason": TEXT})


def test_the_model_travels_once_not_with_every_task(client, table):
    model = KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(table)
    model_size = len(pickle.dumps(model))

    def graph_size(npartitions):
        scored = score_dask(model, dd.from_pandas(table, npartitions=npartitions))
        graph = scored.__dask_graph__()
        # the data's own tasks (from_pandas) hold the rows; leave them out
        return sum(
            len(pickle.dumps(task))
            for key, task in graph.items()
            if not str(key).startswith(("from_pandas", "frompandas"))
        )

    grown = graph_size(24) - graph_size(4)
    assert grown < model_size, (grown, model_size)


def test_parallel_post_fit_answers_on_frames_and_arrays(client, table):
    model = KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(table)
    wrapped = ParallelPostFit(model)
    ddf = dd.from_pandas(table, npartitions=3)
    for method in ("anomaly_score", "score_samples", "decision_function", "predict"):
        got = getattr(wrapped, method)(ddf)
        assert isinstance(got, dd.Series)
        pd.testing.assert_series_equal(got.compute(), getattr(model, method)(table))
    assert (wrapped.score_samples(ddf).compute() == -model.anomaly_score(table)).all()
    plain = KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(table.to_numpy())
    darr = da.from_array(table.to_numpy(), chunks=(5_000, 5))
    got = ParallelPostFit(plain).decision_function(darr)
    assert isinstance(got, da.Array)
    np.testing.assert_array_equal(got.compute(), plain.decision_function(table.to_numpy()))
    # fit on Dask through the wrapper: a clone is fitted, the estimator is not
    unfitted = KMeansAnomalyDetector(n_clusters=3, random_state=0)
    fitted = ParallelPostFit(unfitted).fit(ddf)
    assert "scorer_" not in vars(unfitted)
    np.testing.assert_allclose(fitted.cluster_centers_, model.cluster_centers_, rtol=RTOL)
    detected = fitted.detect(ddf).compute()
    assert list(detected.columns) == list(model.detect(table).columns)


def _lloyd_reference(model, X, passes):
    """Lloyd steps over every kept row, in NumPy, from the model's centres
    (euclidean on the encoded rows): the refinement worked out by hand."""
    keep = model.anomaly_score(X).to_numpy() <= model.trim_cut_
    Z = model.encoder_.transform(X)[keep]
    centres = model.clusters_.centers.copy()
    for _ in range(passes):
        labels, _ = nearest_centers_numpy(Z, centres, "euclidean")
        for j in range(len(centres)):
            if (labels == j).any():
                centres[j] = Z[labels == j].mean(axis=0)
    labels, distances = nearest_centers_numpy(Z, centres, "euclidean")
    sizes = np.bincount(labels, minlength=len(centres))
    sigma = np.array([distances[labels == j].std() for j in range(len(centres))])
    return centres, sizes, sigma, float((distances**2).sum())


def test_refinement_passes_are_lloyd_steps_over_every_row(client, table):
    params = {"n_clusters": 3, "max_fit_rows": 3_000, "random_state": 4}
    sampled = KMeansAnomalyDetector(**params).fit(table)
    centres, sizes, sigma, inertia = _lloyd_reference(sampled, table, passes=2)
    ddf = dd.from_pandas(table, npartitions=6)
    got = fit_dask(KMeansAnomalyDetector(**params), ddf, passes=2, split_every=2)
    np.testing.assert_allclose(got.clusters_.centers, centres, rtol=RTOL, atol=1e-12)
    np.testing.assert_array_equal(got.cluster_sizes_, sizes)
    np.testing.assert_allclose(got.cluster_sigma_, sigma, rtol=RTOL)
    assert got.inertia_ == pytest.approx(inertia, rel=RTOL)
    # ensemble scores do not move with the clusters: the refitted cut is the same
    assert got.threshold_.cut_ == pytest.approx(sampled.threshold_.cut_, rel=RTOL)


def test_refinement_with_a_cluster_dependent_score_refits_the_threshold(client, table):
    params = {"n_clusters": 3, "score_mode": "distance", "max_fit_rows": 3_000}
    got = fit_dask(
        KMeansAnomalyDetector(**params, random_state=5), table.pipe(dd.from_pandas, 3), passes=1
    )
    scores = got.anomaly_score(table).to_numpy()
    # the cut is the 99th percentile of the sample's scores under the moved clusters
    assert 0.003 < (scores > got.threshold_.cut_).mean() < 0.03


def _kill_one_worker_when_busy(client, deadline=60):
    """Wait until a task is running, then kill that worker's process
    (SIGKILL: no goodbye to the scheduler; its nanny starts a new one)."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        busy = [w for w, tasks in client.processing().items() if tasks]
        if busy:
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.01)
    raise AssertionError("no task ever ran")


def test_a_worker_killed_mid_job_changes_no_answer(client):
    table = _table(n=40_000, seed=3)
    model = KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(table)
    # each partition takes 0.1 s to read, so the job is still running when a
    # worker dies (a lambda: cloudpickled by value, as the workers cannot
    # import this test module)
    ddf = dd.from_pandas(table, npartitions=20).map_partitions(
        lambda frame: (time.sleep(0.1), frame)[1]
    )
    pids = set(client.run(os.getpid).values())
    future = client.compute(score_dask(model, ddf))
    killed = _kill_one_worker_when_busy(client)
    got = future.result(timeout=120)
    pd.testing.assert_frame_equal(got, pd.concat([table, _detect(model, table)], axis=1))
    client.wait_for_workers(2, timeout=60)
    now = set(client.run(os.getpid).values())
    assert killed in pids and killed not in now and len(now) == 2  # the nanny restarted it
    # a fit (with a refinement pass), a worker killed while it runs
    params = {"n_clusters": 3, "max_fit_rows": 8_000, "random_state": 0}
    want = fit_dask(KMeansAnomalyDetector(**params), ddf, passes=1)
    client.wait_for_workers(2, timeout=60)
    fitted = {}
    job = threading.Thread(
        target=lambda: fitted.update(model=fit_dask(KMeansAnomalyDetector(**params), ddf, passes=1))
    )
    job.start()
    _kill_one_worker_when_busy(client)
    job.join(timeout=120)
    _assert_same_model(fitted["model"], want)
    client.wait_for_workers(2, timeout=60)


def test_errors_name_the_column_or_parameter_and_what_to_do(client, table):
    ddf = dd.from_pandas(table, npartitions=2)
    model = KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(table)
    with pytest.raises(InputError, match=r"lacks the model's column\(s\) 'rate'"):
        score_dask(model, ddf.drop(columns=["rate"]))
    text = dd.from_pandas(table.assign(kind="a"), npartitions=2)
    with pytest.raises(InputError, match=r"column\(s\) 'kind' .* not plain numeric.*--exclude"):
        fit_dask(KMeansAnomalyDetector(), text)
    with pytest.raises(InputError, match="scaling='robust' needs exact medians"):
        fit_dask(KMeansAnomalyDetector(scaling="robust"), ddf)
    holed = table.copy()
    holed.loc[9_000, "age"] = np.nan
    with pytest.raises(InputError, match=r"column 'age' has 1 missing .* at row 9000"):
        fit_dask(KMeansAnomalyDetector(), dd.from_pandas(holed, npartitions=3))
    with pytest.raises(InputError, match="metric='manhattan' moves centres to medians"):
        fit_dask(KMeansAnomalyDetector(metric="manhattan"), ddf, passes=1)
    with pytest.raises(InputError, match="must be a Dask DataFrame or Array"):
        fit_dask(KMeansAnomalyDetector(), table)
    with pytest.raises(InputError, match=r"--dask 'tcp://127.0.0.1:9': no Dask scheduler"):
        with connect("tcp://127.0.0.1:9", option="--dask", timeout=1):
            pass


def test_cli_fit_and_score_on_dask_match_the_library_in_memory(client, tmp_path, capsys):
    table = _table(n=6_000, seed=5)
    folder = tmp_path / "parquet"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(table)), 3)):
        table.iloc[part].to_parquet(folder / f"p{i}.parquet", index=False)
        table.iloc[part].to_csv(tmp_path / f"rows-{i}.csv", index=False)
    address = client.scheduler.address
    model_path = tmp_path / "m.farout"
    argv = ["fit", str(folder), "-o", str(model_path), "--k", "3", "--dask", address]
    assert main(argv) == 0
    assert "on Dask" in capsys.readouterr().out
    model = load(model_path)
    _assert_same_model(model, KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(table))
    out = tmp_path / "scored"
    argv = ["score", str(tmp_path / "rows-*.csv"), "-m", str(model_path), "-o", str(out)]
    assert main([*argv, "--dask", address]) == 0
    assert "scored 6,000 rows" in capsys.readouterr().err
    parts = sorted(os.listdir(out))
    assert parts == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".farout-")]
    got = pd.read_parquet(out)
    want = pd.concat([table, _detect(model, table)], axis=1)
    np.testing.assert_array_equal(got["anomaly_score"], want["anomaly_score"])
    np.testing.assert_array_equal(got["is_anomaly"], want["is_anomaly"])
    assert got["reason"].tolist() == want["reason"].tolist()
    # the output folder is new: an existing one is refused before any work
    assert main([*argv, "--dask", address]) == 2
    assert "already exists" in capsys.readouterr().err
    # 'local' starts (and stops) a cluster of this machine's cores
    out2 = tmp_path / "scored-local"
    argv = ["score", str(folder), "-m", str(model_path), "-o", str(out2), "--dask", "local"]
    assert main(argv) == 0
    local = pd.read_parquet(out2)
    pd.testing.assert_frame_equal(local[list(want.columns[5:])], got[list(want.columns[5:])])
    # CSV input: the model's numeric columns are read as floats over every file
    assert local["count"].dtype == np.int64 and got["count"].dtype == np.float64
    assert (
        main(["fit", str(folder), "-o", str(model_path), "--dask", address, "--sample-rows", "9"])
        == 2
    )
    assert "--sample-rows is not taken with --dask" in capsys.readouterr().err
