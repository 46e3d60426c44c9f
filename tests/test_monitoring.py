"""Monitoring: the training reference a model file keeps, the two-sample
comparisons, the retrain rule on hand-made windows, and ``GET
/v1/monitoring`` over real HTTP to ``farout serve`` on SQLite and
PostgreSQL, with a planted drift it must name and rows from the training
distribution it must not call drifted."""

import json
import urllib.request

import numpy as np
import pandas as pd
import pytest
from servers import Server, make_key, payments

import farout as fo
from farout.client import APIError, Client
from farout.features.reference import REFERENCE_ROWS, FeatureReference
from farout.monitoring import monitor, reference_of
from farout.persistence import read_state, write_state
from farout.shift import MIN_ROWS, categorical_shift, numeric_shift
from farout.thresholds import Percentile

TIERS = {"low": Percentile(95), "high": Percentile(99.5)}

# ------------------------------------------------------------ the library


def test_feature_reference_keeps_a_bounded_sample_and_the_category_counts():
    frame = payments(10_000, 0)
    frame.loc[:9, "amount"] = np.nan
    det = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, missing="impute").fit(frame)
    ref = det.feature_reference_
    amount, kind = ref.column("amount"), ref.column("kind")
    assert amount["rows"] == REFERENCE_ROWS and amount["missing"] <= 10
    assert amount["values"].shape == (REFERENCE_ROWS - amount["missing"],)
    assert np.all(np.diff(amount["values"]) >= 0)
    # a uniform sample: its quartiles sit near the whole column's
    whole = frame["amount"].dropna().quantile([0.25, 0.5, 0.75]).to_numpy()
    assert np.allclose(np.quantile(amount["values"], [0.25, 0.5, 0.75]), whole, rtol=0.05)
    assert kind["categories"] == ["card", "wire"] and kind["counts"].sum() == REFERENCE_ROWS
    assert kind["counts"][0] / REFERENCE_ROWS == pytest.approx(
        (frame["kind"] == "card").mean(), abs=0.03
    )


def test_feature_reference_survives_the_model_file(tmp_path):
    det = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(payments(500, 0))
    back = fo.load(det.save(tmp_path / "m.farout"))
    for a, b in zip(det.feature_reference_.columns, back.feature_reference_.columns, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert (
                np.array_equal(a[key], b[key]) if key in ("values", "counts") else a[key] == b[key]
            )


def test_a_model_file_without_a_feature_reference_loads_and_monitoring_says_so(tmp_path):
    det = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(payments(500, 0))
    path = det.save(tmp_path / "m.farout")
    state = read_state(path, "KMeansAnomalyDetector")
    del state["parts"]["feature_reference"]  # as files written before it
    write_state(tmp_path / "old.farout", "KMeansAnomalyDetector", state)
    old = fo.load(tmp_path / "old.farout")
    assert old.feature_reference_ is None
    assert np.array_equal(old.anomaly_score(payments(50, 1)), det.anomaly_score(payments(50, 1)))
    found = _monitor(old, payments(200, 1), np.zeros(200))
    assert found["reference"]["features"] == "missing"
    assert {f["status"] for f in found["features"]} == {"no_reference"}
    assert "refit and save" in found["features"][0]["message"]
    assert found["scores"]["status"] == "stable"  # the scores still have theirs


def test_a_feature_reference_of_other_columns_is_refused():
    det = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0).fit(payments(300, 0))
    state = det.feature_reference_.get_state()
    schema = det.encoder_.columns_[::-1]
    with pytest.raises(fo.ModelFileError, match="does not match its columns"):
        FeatureReference.from_state(state, schema)


def test_numeric_shift_verdicts_and_effect_sizes():
    rng = np.random.default_rng(1)
    reference = rng.normal(10, 2, 4000)
    same = numeric_shift(reference, rng.normal(10, 2, 500))
    assert same["status"] == "stable" and same["psi"] < 0.05 and same["p_value"] > 0.01
    moved = numeric_shift(reference, rng.normal(12, 2, 500))
    assert moved["status"] == "drift"
    assert moved["mean_shift_sd"] == pytest.approx(1.0, abs=0.15)
    assert moved["ks_statistic"] == pytest.approx(0.38, abs=0.06)  # 2 Phi(0.5) - 1
    assert moved["live_median"] == pytest.approx(12, abs=0.3)
    few = numeric_shift(reference, rng.normal(20, 2, MIN_ROWS - 1))
    assert few == {"status": "not_enough_rows", "rows": MIN_ROWS - 1, "reference_rows": 4000}
    # significant but tiny: 100,000 rows find a 0.05 sd shift, the PSI does not
    tiny = numeric_shift(rng.normal(10, 2, 100_000), rng.normal(10.1, 2, 100_000))
    assert tiny["p_value"] < 0.01 and tiny["status"] == "stable"


def test_categorical_shift_counts_unseen_values_as_other():
    live = np.array(["a"] * 60 + ["b"] * 20 + ["zzz"] * 20 + [None] * 0, dtype=object)
    found = categorical_shift(["a", "b"], [500, 500], 0, live)
    assert found["live_shares"] == {"a": 0.6, "b": 0.2, "other": 0.2}
    assert found["reference_shares"] == {"a": 0.5, "b": 0.5}
    assert found["total_variation"] == pytest.approx(0.3)
    assert found["status"] == "drift"
    same = categorical_shift(["a", "b"], [500, 500], 0, np.array(["a", "b"] * 100, dtype=object))
    assert same["status"] == "stable" and same["p_value"] == pytest.approx(1.0)


def _monitor(model, inputs, times, window=3600.0, persist=3, **extra):
    found = model.findings(inputs)
    tiers = np.array([*found.tier_names, None], dtype=object)
    log = pd.DataFrame(
        {
            "scored_at": times,
            "anomaly_score": found.scores,
            "is_anomaly": found.flags,
            "severity": tiers[found.tiers],
        }
    )
    return monitor(
        reference_of(model),
        log,
        inputs,
        float(times.min()),
        float(times.max()) + 1,
        window,
        persist,
        **extra,
    )


@pytest.fixture(scope="module")
def detector():
    return fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, tiers=TIERS).fit(
        payments(3000, 0)
    )


def test_retrain_is_recommended_when_drift_lasts_three_windows(detector):
    hour = 3600.0
    blocks = []
    for i in range(5):  # two calm hours, then three with amounts 1.8 times larger
        block = payments(300, 10 + i)
        if i >= 2:
            block["amount"] *= 1.8
        blocks.append(block)
    inputs = pd.concat(blocks, ignore_index=True)
    times = np.repeat(hour * (100 + np.arange(5)), 300) + 10.0
    found = _monitor(detector, inputs, times)
    drifted = [w["drifted"] for w in found["drift_windows"]]
    assert drifted[:2] == [[], []] and all("amount" in d for d in drifted[2:])
    assert found["retrain"]["recommended"]
    amount = next(s for s in found["retrain"]["signals"] if s["signal"] == "amount")
    assert amount["windows"] == 3 and amount["since"] == found["drift_windows"][2]["start"]
    reason = found["retrain"]["reason"]
    assert "amount" in reason and "last 3 windows of 1h" in reason and amount["since"] in reason
    assert "mean +" in reason  # by how much

    # two drifted windows are not yet three; a calm latest window ends a run
    assert not _monitor(detector, inputs.iloc[: 4 * 300], times[: 4 * 300])["retrain"][
        "recommended"
    ]
    calm = pd.concat([inputs, payments(300, 99)], ignore_index=True)
    later = np.concatenate([times, np.full(300, hour * 105 + 10.0)])
    assert not _monitor(detector, calm, later)["retrain"]["recommended"]


def test_windows_with_too_few_rows_neither_break_nor_extend_a_run(detector):
    hour = 3600.0
    blocks, times = [], []
    for i, n in enumerate((300, 300, 10, 300)):  # the third hour is too quiet to judge
        block = payments(n, 20 + i)
        block["amount"] *= 1.8
        blocks.append(block)
        times.append(np.full(n, hour * (200 + i) + 5.0))
    found = _monitor(detector, pd.concat(blocks, ignore_index=True), np.concatenate(times))
    assert found["drift_windows"][2]["scores"]["status"] == "not_enough_rows"
    assert found["retrain"]["recommended"]
    assert {s["signal"]: s["windows"] for s in found["retrain"]["signals"]}["amount"] == 3


def test_alert_rate_windows_count_the_flags_by_severity(detector):
    inputs = payments(400, 5)
    inputs.loc[:19, "amount"] = 400.0  # far out: flagged, in the top tier
    times = np.where(np.arange(400) < 200, 7200.0 * 50 + 1, 7200.0 * 50 + 3601)
    found = _monitor(detector, inputs, times)
    windows = found["alert_rate"]["windows"]
    flags = detector.predict(inputs) == -1
    assert [w["rows"] for w in windows] == [200, 200]
    assert [w["flagged"] for w in windows] == [int(flags[:200].sum()), int(flags[200:].sum())]
    assert sum(sum(w["by_severity"].values()) for w in windows) == int(flags.sum())
    assert windows[0]["by_severity"]["high"] >= 20
    training = found["alert_rate"]["training"]
    assert training == pytest.approx(0.01, abs=0.002)
    assert windows[0]["ratio_to_training"] == pytest.approx(windows[0]["alert_rate"] / training)
    hist = found["scores"]["histogram"]
    assert sum(hist["live_counts"]) == 400
    assert sum(hist["training_counts"]) == len(detector.score_reference_[0])


def test_an_alert_storm_is_named_with_the_alert_workers_rule(detector):
    """A window flagging far more than 10x the training rate is a storm;
    the answer says whether one lasts now and since which window."""
    from farout.storms import StormRule

    for stormy, active in ((slice(0, 60), False), (slice(200, 260), True)):
        inputs = payments(400, 6)
        inputs.loc[inputs.index[stormy], "amount"] = 400.0  # 60 of one window's 200 rows
        times = np.where(np.arange(400) < 200, 7200.0 * 50 + 1, 7200.0 * 50 + 3601)
        storm = _monitor(detector, inputs, times)["alert_storm"]
        assert storm["storm_windows"] == 1 and storm["active"] is active
        assert storm["rule"]["multiple"] == 10 and storm["recorded"] is None
        second = _monitor(detector, inputs, times)["alert_rate"]["windows"][1]["start"]
        assert storm["since"] == (second if active else None)
    # the worker's own rule, when the operator set one: 100x is no storm here
    quiet = _monitor(detector, inputs, times, rule=StormRule(multiple=100))["alert_storm"]
    assert quiet["storm_windows"] == 0 and quiet["active"] is False


# --------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    det = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, tiers=TIERS).fit(payments(3000, 0))
    det.save(folder / "payments.farout")
    return folder / "payments.farout"


def _get(server, key, path):
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request, tmp_path_factory, model_file):
    """(server, admin key, client) on a fresh registry and database."""
    registry = tmp_path_factory.mktemp(f"monitoring-{request.param}")
    db = (
        request.getfixturevalue("postgres").new_database()
        if request.param == "postgresql"
        else None
    )
    key = make_key(registry, db)
    server = Server(registry, db, "-q").start()
    try:
        client = Client(server.url, key)
        client.upload(model_file)
        yield server, key, client
    finally:
        server.stop()


def test_monitoring_names_a_planted_drift_in_one_feature(service):
    server, key, client = service
    shifted = payments(800, 3)
    shifted["amount"] *= 1.8  # one feature moves; hour and kind do not
    client.detect(shifted)
    status, found = _get(server, key, "/v1/monitoring")
    assert status == 200
    assert found["model"] == {"name": "payments", "version": 1, "alias": "champion"}
    assert found["rows"] == 800 and not found["truncated"]
    assert found["drifted_features"] == ["amount"]
    amount = next(f for f in found["features"] if f["name"] == "amount")
    assert amount["mean_shift_sd"] > 1 and amount["psi"] > 0.5 and amount["p_value"] < 1e-6
    assert found["scores"]["status"] == "drift"
    assert found["reference"] == {
        "training_rows": 3000,
        "training_scores": 3000,
        "features": "present",
    }
    assert found["alert_rate"]["live"] > 5 * found["alert_rate"]["training"]
    storm = found["alert_storm"]  # the alert worker's rule over the windows
    assert storm["rule"]["baseline"] == found["alert_rate"]["training"]
    assert storm["recorded"] == []  # no alerts configured: no storm recorded


def test_monitoring_finds_no_drift_on_rows_from_the_training_distribution(service):
    server, key, client = service
    answer = client.detect(payments(800, 4))
    status, found = _get(server, key, "/v1/monitoring?window=1d")
    assert status == 200 and found["rows"] == 800
    assert found["drifted_features"] == []
    assert {f["status"] for f in found["features"]} == {"stable"}
    assert found["scores"]["status"] == "stable"
    assert not found["retrain"]["recommended"]
    flagged = int(answer["is_anomaly"].sum())
    windows = found["alert_rate"]["windows"]
    assert sum(w["flagged"] for w in windows) == flagged == found["alert_rate"]["flagged"]
    assert sum(sum(w["by_severity"].values()) for w in windows) == flagged
    assert 0 <= found["alert_rate"]["live"] <= 1


def test_monitoring_reads_the_live_rows_of_one_version_only(service, model_file):
    server, key, client = service
    client.detect(payments(300, 4))
    client.upload(model_file)  # version 2, scored in shadow as challenger
    client.set_alias("payments", "challenger", 2)
    client.detect(payments(100, 5))
    assert client.monitoring()["rows"] == 400
    pinned = client.monitoring(model="payments/1", window="1d")
    assert pinned["rows"] == 400 and pinned["model"]["alias"] is None
    shadowed = client.monitoring(model="payments@challenger")
    assert shadowed["rows"] == 0 and shadowed["scores"]["status"] == "not_enough_rows"
    assert shadowed["retrain"]["reason"].startswith("No recommendation")


def test_monitoring_refuses_bad_parameters_by_name(service):
    server, key, _ = service
    cases = {
        "window=2s": "window",
        "window=soon": "window",
        "since=yesterday": "since",
        "since=2026-12-03T10:00:00Z&until=2026-12-03T09:00:00Z": "since",
        "since=0&window=1m": "window",  # too many windows
        "persist=0": "persist",
        "model=nobody": "model",
    }
    for query, field in cases.items():
        status, body = _get(server, key, f"/v1/monitoring?{query}")
        assert status in (404, 422), (query, status, body)
        assert body["error"]["field"] == field, (query, body)
    status, body = _get(server, "not-a-key", "/v1/monitoring")
    assert status == 401


def test_predictions_reviewed_filter_is_the_review_queue(service):
    server, key, client = service
    inputs = payments(300, 6)
    inputs.loc[:9, "amount"] = 500.0
    client.detect(inputs)
    flagged = client.predictions(flagged=True, limit=1000)["predictions"]
    assert len(flagged) >= 10
    client.feedback(flagged[0]["prediction_id"], "anomaly", "ann")
    waiting = client.predictions(flagged=True, reviewed=False, limit=1000)["predictions"]
    judged = client.predictions(flagged=True, reviewed=True, limit=1000)["predictions"]
    assert [p["prediction_id"] for p in judged] == [flagged[0]["prediction_id"]]
    assert len(waiting) == len(flagged) - 1
    with pytest.raises(APIError):
        client.predictions(reviewed="maybe")
