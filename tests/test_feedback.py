"""Analysts' feedback: verdicts, their summary, export and recalibration,
over real HTTP to ``farout serve`` on SQLite and PostgreSQL, and the
library's rules (latest verdict, kappa, the fit) on hand-worked data."""

import time

import numpy as np
import pandas as pd
import pytest
from servers import Server, farout, make_key
from servers import payments as _frame
from sklearn.metrics import cohen_kappa_score

import farout as fo
from farout.agreement import cohen_kappa, fleiss_kappa, rater_agreement
from farout.client import APIError, Client
from farout.feedback import VERDICTS, predictions_of, read_feedback, summarize
from farout.recalibration import (
    MIN_VERDICTS,
    NotEnoughFeedback,
    recalibrate,
    target_threshold,
)
from farout.thresholds import Percentile

# ------------------------------------------------------------ the library


def test_fleiss_kappa_hand_worked():
    # Fleiss (1971) as in most textbooks: 10 items, 14 raters, 5 categories
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-5)
    # 3 analysts, 4 items: P = (1, 1/3, 1, 0), mean 7/12; shares (6, 5, 1)/12,
    # chance 62/144; kappa = (84 - 62) / (144 - 62) = 11/41
    assert fleiss_kappa([[3, 0, 0], [2, 1, 0], [0, 3, 0], [1, 1, 1]]) == pytest.approx(11 / 41)
    assert fleiss_kappa([[2, 0], [2, 0]]) is None  # one category: undefined


def test_cohen_kappa_hand_worked():
    ann = ["anomaly"] * 5 + ["normal"] * 5
    bob = ["anomaly"] * 4 + ["normal"] * 5 + ["anomaly"]
    # observed 8/10; each says anomaly half the time, chance 0.5: (0.8-0.5)/0.5
    assert cohen_kappa(ann, bob, VERDICTS) == pytest.approx(0.6)
    assert cohen_kappa(ann, bob, VERDICTS) == pytest.approx(cohen_kappa_score(ann, bob))
    assert cohen_kappa(["normal"] * 3, ["normal"] * 3, VERDICTS) is None
    found = rater_agreement(list(range(10)) * 2, ["ann"] * 10 + ["bob"] * 10, ann + bob, VERDICTS)
    assert found["method"] == "cohen" and found["kappa"] == pytest.approx(0.6)
    assert found["observed_agreement"] == pytest.approx(0.8) and found["predictions"] == 10


def _export(rows):
    """A small export frame from (prediction, flagged, score, analyst,
    verdict, at) tuples."""
    frame = pd.DataFrame(
        rows,
        columns=[
            "prediction_id",
            "is_anomaly",
            "anomaly_score",
            "analyst",
            "verdict",
            "verdict_at",
        ],
    )
    frame["scored_at"] = 1_000.0
    frame["severity"] = np.where(frame["anomaly_score"] > 5, "high", "low")
    frame["cluster"] = 0
    frame["model_name"], frame["model_version"] = "m", 1
    frame["feedback_id"] = np.arange(len(frame))
    return frame


def test_latest_verdict_per_analyst_counts_and_unsure_is_left_out():
    frame = _export(
        [
            ("p1", True, 6.0, "ann", "normal", 10.0),
            ("p1", True, 6.0, "ann", "anomaly", 20.0),  # ann changed her mind: this counts
            ("p1", True, 6.0, "bob", "anomaly", 15.0),
            ("p2", True, 4.0, "ann", "normal", 11.0),
            ("p2", True, 4.0, "bob", "unsure", 12.0),
            ("p3", True, 4.5, None, None, np.nan),  # not reviewed
            ("p4", True, 7.0, "ann", "anomaly", 13.0),
            ("p4", True, 7.0, "bob", "normal", 14.0),  # a tie: no label
        ]
    )
    preds = predictions_of(frame)
    assert preds.loc["p1", ["n_anomaly", "n_normal"]].tolist() == [2, 0]
    assert preds["label"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(preds.loc["p3", "label"]) and np.isnan(preds.loc["p4", "label"])
    found = summarize(frame, now=1_100.0)
    assert found["verdicts"] == {"anomaly": 3, "normal": 2, "unsure": 1}
    assert found["precision"] == pytest.approx(3 / 5)
    assert (found["flagged"], found["reviewed"], found["unreviewed_share"]) == (4, 3, 0.25)
    assert found["backlog"] == {
        "unreviewed": 1,
        "oldest_age_seconds": 100.0,
        "median_age_seconds": 100.0,
    }
    assert found["precision_by_tier"]["high"]["precision"] == pytest.approx(3 / 4)
    assert found["precision_by_tier"]["low"]["precision"] == 0.0


def test_recalibrate_reaches_the_precision_on_the_reviewed_rows():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    det = fo.KMeansAnomalyDetector(n_clusters=2, random_state=0).fit(data)
    scores = rng.uniform(0, 10, 200)
    clusters = np.zeros(200, dtype=int)
    flagged = scores > 5
    labels = np.full(200, np.nan)
    labels[flagged] = (scores[flagged] > 7).astype(float)
    labels[flagged & (scores < 6)] = np.nan  # some alerts not reviewed
    new, details = recalibrate(
        det, scores, clusters, flagged, labels, target_threshold("precision", 0.9)
    )
    judged = ~np.isnan(labels) & (scores > new.threshold_.cut_)
    assert labels[judged].mean() >= 0.9 and details["reviewed_precision_after"] >= 0.9
    assert new.offset_ == -new.threshold_.cut_ and det.threshold_.cut_ != new.threshold_.cut_
    assert new.predict(data).shape == (400,)
    few = np.full(200, np.nan)
    few[np.flatnonzero(flagged)[: MIN_VERDICTS - 1]] = 1.0
    with pytest.raises(NotEnoughFeedback, match="at least 30"):
        recalibrate(det, scores, clusters, flagged, few, target_threshold("precision", 0.9))
    with pytest.raises(ValueError, match="fp_cost"):
        target_threshold("cost", fn_cost=3.0)


# ---------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    tiers = {"low": Percentile(95), "high": Percentile(99.5)}
    det = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, tiers=tiers).fit(_frame(600, 0))
    det.save(folder / "payments.farout")
    return folder / "payments.farout"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory, model_file):
    """(server, admin client, score client, registry, db url or None)."""
    registry = tmp_path_factory.mktemp(f"feedback-{request.param}")
    db = (
        request.getfixturevalue("postgres").new_database()
        if request.param == "postgresql"
        else None
    )
    admin_key, score_key = make_key(registry, db), make_key(registry, db, scope="score")
    server = Server(registry, db, "-q").start()
    try:
        admin, analyst = Client(server.url, admin_key), Client(server.url, score_key)
        admin.upload(model_file)
        yield server, admin, analyst, registry, db
    finally:
        server.stop()


def _alerts(client, seed, n_outliers=80):
    """Score ordinary rows and graded outliers; the flagged predictions,
    lowest score first, and the time just before scoring."""
    since = time.time() - 0.001
    rows = _frame(200, seed)
    rows.loc[: n_outliers - 1, "amount"] = np.linspace(90, 3000, n_outliers)
    rows["account"] = np.where(np.arange(len(rows)) % 2, "A-1", "B-2")
    answer = client.score(rows.to_dict("records"))
    flagged = [p for p in answer["predictions"] if p["is_anomaly"]]
    return sorted(flagged, key=lambda p: p["anomaly_score"]), since


def test_feedback_latest_verdict_counts_and_the_history_is_kept(service):
    server, admin, analyst, *_ = service
    flagged, since = _alerts(analyst, 1)
    first, second = flagged[-1]["prediction_id"], flagged[-2]["prediction_id"]
    analyst.feedback(first, "normal", "ann", note="looks like payroll")
    analyst.feedback(first, "anomaly", "ann", note="no: a new payee")  # her latest
    analyst.feedback(first, "anomaly", "bob")
    stored = analyst.feedback(
        items=[
            {"prediction_id": second, "verdict": "normal", "analyst": "ann"},
            {"prediction_id": second, "verdict": "unsure", "analyst": "bob"},
        ]
    )
    assert [s["verdict"] for s in stored] == ["normal", "unsure"] and stored[0]["id"] < stored[1][
        "id"
    ]
    history = analyst.prediction(first)["feedback"]
    assert [(h["analyst"], h["verdict"]) for h in history] == [
        ("ann", "normal"),
        ("ann", "anomaly"),
        ("bob", "anomaly"),
    ]
    assert (
        history[0]["note"] == "looks like payroll"
        and history[0]["key_id"] == analyst.api_key.split("_")[1]
    )
    found = analyst.feedback_summary(since=since)
    assert found["verdicts"] == {"anomaly": 2, "normal": 1, "unsure": 1}
    assert found["precision"] == pytest.approx(2 / 3)
    assert found["flagged"] == len(flagged) and found["reviewed"] == 2
    assert found["unreviewed_share"] == pytest.approx((len(flagged) - 2) / len(flagged))
    assert found["backlog"]["unreviewed"] == len(flagged) - 2
    assert found["backlog"]["oldest_age_seconds"] > 0
    for tier, entry in found["precision_by_tier"].items():
        assert tier in ("low", "high", "untiered")
        assert all(isinstance(entry[k], int) for k in ("flagged", "reviewed", "anomaly", "normal"))
        assert entry["precision"] is None or 0 <= entry["precision"] <= 1
    assert set(found["precision_by_model_version"]) == {"payments/1"}


def test_feedback_refuses_unknown_ids_bad_verdicts_and_stores_nothing_of_them(service):
    server, admin, analyst, *_ = service
    flagged, since = _alerts(analyst, 2)
    good = flagged[0]["prediction_id"]
    with pytest.raises(APIError) as caught:
        analyst.feedback("0" * 32, "anomaly", "ann")
    assert caught.value.status == 404 and caught.value.fields["field"] == "prediction_id"
    with pytest.raises(APIError) as caught:
        analyst.feedback(good, "fraud", "ann")
    assert caught.value.status == 422 and caught.value.fields == {"field": "verdict"}
    assert "'anomaly', 'normal' or 'unsure'" in caught.value.message
    with pytest.raises(APIError) as caught:
        analyst.feedback(
            items=[
                {"prediction_id": good, "verdict": "anomaly", "analyst": "ann"},
                {"prediction_id": "f" * 32, "verdict": "anomaly", "analyst": "ann"},
            ]
        )
    assert caught.value.status == 404 and caught.value.fields == {
        "field": "prediction_id",
        "row": 1,
    }
    nul = {
        "prediction_id": good,
        "verdict": "anomaly",
        "analyst": "a\x00b",
    }  # PostgreSQL refuses NUL
    for body in ({}, [], {"prediction_id": good, "verdict": "anomaly"}, [{"x": 1}], "text", nul):
        with pytest.raises(APIError) as caught:
            analyst._request("POST", "/v1/feedback", body)
        assert caught.value.status == 422, body
    with pytest.raises(APIError) as caught:
        Client(server.url).feedback(good, "anomaly", "ann")
    assert caught.value.status == 401
    assert analyst.prediction(good)["feedback"] == []  # nothing of the refused bodies
    with pytest.raises(APIError) as caught:
        analyst.feedback_summary(window="fortnight")
    assert caught.value.status == 422 and caught.value.fields == {"field": "window"}
    with pytest.raises(APIError) as caught:
        analyst.feedback_summary(since=since, by="acount")
    assert caught.value.status == 422 and "acount" in caught.value.message


def test_feedback_summary_groups_and_agreement_hand_worked(service):
    server, admin, analyst, *_ = service
    flagged, since = _alerts(analyst, 3)
    ids = [p["prediction_id"] for p in flagged[:10]]
    ann = ["anomaly"] * 5 + ["normal"] * 5
    bob = ["anomaly"] * 4 + ["normal"] * 5 + ["anomaly"]
    items = [
        {"prediction_id": i, "verdict": v, "analyst": who}
        for who, verdicts in (("ann", ann), ("bob", bob))
        for i, v in zip(ids, verdicts, strict=True)
    ]
    analyst.feedback(items=items)
    found = analyst.feedback_summary(since=since, by="account", window="1h")
    assert found["agreement"]["method"] == "cohen"
    assert found["agreement"]["kappa"] == pytest.approx(0.6)  # worked out above
    assert found["agreement"]["predictions"] == 10
    groups = found["precision_by"]["groups"]
    assert (
        set(groups) <= {"A-1", "B-2"}
        and sum(g["flagged"] for g in groups.values()) == found["flagged"]
    )
    assert found["precision"] == pytest.approx(10 / 20)
    (window,) = found["windows"]
    assert window["alerts"] == found["flagged"] and window["kappa"] == pytest.approx(0.6)
    # a third analyst: Fleiss' kappa, on the four alerts of the worked example
    carol = {
        "ann": ["anomaly", "anomaly", "normal", "anomaly"],
        "bob": ["anomaly", "anomaly", "normal", "normal"],
    }
    carol["carol"] = ["anomaly", "normal", "normal", "unsure"]
    more, since = _alerts(analyst, 4)
    four = [p["prediction_id"] for p in more[:4]]
    analyst.feedback(
        items=[
            {"prediction_id": i, "verdict": v, "analyst": who}
            for who, verdicts in carol.items()
            for i, v in zip(four, verdicts, strict=True)
        ]
    )
    found = analyst.feedback_summary(since=since)
    assert found["agreement"]["method"] == "fleiss"
    assert found["agreement"]["kappa"] == pytest.approx(11 / 41)
    assert found["analysts"] == 3


def _judge(client, flagged, share_anomalous=0.6, skip=0):
    """Both analysts judge the alerts: the top share anomalies, the rest
    normal; the ``skip`` lowest are left unreviewed."""
    cut = int(len(flagged) * (1 - share_anomalous))
    items = [
        {
            "prediction_id": p["prediction_id"],
            "verdict": "anomaly" if i >= cut else "normal",
            "analyst": who,
        }
        for i, p in enumerate(flagged)
        if i >= skip
        for who in ("ann", "bob")
    ]
    client.feedback(items=items)
    return {p["prediction_id"]: (i >= cut) for i, p in enumerate(flagged) if i >= skip}


def test_recalibrate_refuses_with_fewer_than_30_verdicts(service):
    server, admin, analyst, *_ = service
    flagged, since = _alerts(analyst, 5)
    assert len(flagged) > MIN_VERDICTS
    _judge(analyst, flagged[: MIN_VERDICTS - 1])
    with pytest.raises(APIError) as caught:
        admin.recalibrate("payments", "precision", 0.8, since=since)
    error = caught.value
    assert error.status == 422 and error.fields == {"field": "target", "labelled": 29, "needed": 30}
    assert "at least 30" in error.message and "Review more alerts" in error.message
    with pytest.raises(APIError) as caught:
        analyst.recalibrate("payments", "precision", 0.8, since=since)
    assert caught.value.status == 403
    with pytest.raises(APIError) as caught:
        admin.recalibrate("payments", "precision", 1.5, since=since)
    assert caught.value.status == 422 and caught.value.fields["field"] == "value"
    with pytest.raises(APIError) as caught:
        admin.recalibrate("nobody", "precision", 0.8)
    assert caught.value.status == 404


def test_recalibrate_writes_a_challenger_that_reaches_the_target(service, tmp_path):
    server, admin, analyst, registry, db = service
    flagged, since = _alerts(analyst, 6)
    truth = _judge(analyst, flagged, skip=5)
    before = {m["name"]: m["aliases"] for m in admin.models()}["payments"]
    made = admin.recalibrate("payments", "precision", 0.8, since=since)
    version, details = made["version"], made["recalibration"]
    assert version["aliases"] == ["challenger"]
    provenance = version["provenance"]
    assert provenance["target"] == {"target": "precision", "value": 0.8, "since": since}
    assert provenance["from"] == {"name": "payments", "version": before["champion"]}
    assert provenance["feedback"]["verdicts"] == 2 * len(truth)
    assert (
        provenance["feedback"]["predictions"] >= len(flagged)
        and len(provenance["feedback"]["sha256"]) == 64
    )
    cut = details["cut"]
    scores = {p["prediction_id"]: p["anomaly_score"] for p in flagged}
    above = [truth[i] for i in truth if scores[i] > cut]
    assert above and np.mean(above) >= 0.8  # the target, on the feedback
    assert details["reviewed_precision_after"] == pytest.approx(np.mean(above))
    assert cut > details["previous_cut"]
    # never champion: the champion answers, the new version scores in shadow
    aliases = {m["name"]: m["aliases"] for m in admin.models()}["payments"]
    assert aliases == {"champion": before["champion"], "challenger": version["version"]}
    answer = analyst.score(_frame(5, 9).to_dict("records"))
    assert answer["model"]["version"] == before["champion"]
    shadow = analyst.predictions(shadow=True, model=f"payments/{version['version']}")["predictions"]
    assert shadow and all(p["threshold"] == pytest.approx(cut) for p in shadow)
    changes = [(c["action"], c["alias"], c["to_version"]) for c in admin.audit("payments")]
    assert ("set_alias", "challenger", version["version"]) in changes
    assert ("set_alias", "champion", version["version"]) not in changes
    # offline from an export: the same cut
    export = tmp_path / "feedback.parquet"
    analyst.export(export, since=since)
    new_model = tmp_path / "recalibrated.farout"
    model_file = registry / "models" / "payments" / f"payments-v{before['champion']}.farout"
    done = farout(
        "recalibrate",
        str(model_file),
        str(export),
        "-o",
        str(new_model),
        "--target",
        "precision",
        "--value",
        "0.8",
    )
    assert "model written" in done.stdout
    assert fo.load(new_model).threshold_.cut_ == pytest.approx(cut)
    assert "recalibrated TargetPrecision" in farout("info", str(new_model)).stdout
    # an alert rate from every logged score
    with pytest.raises(APIError) as caught:  # 5% of 205 rows: too few above the cut
        admin.recalibrate("payments", "alert_rate", 0.05, since=since)
    assert caught.value.status == 422 and "too few" in caught.value.message
    rate = admin.recalibrate("payments", "alert_rate", 0.2, since=since)["recalibration"]
    assert rate["alert_rate_after"] == pytest.approx(0.2, abs=0.01)
    assert rate["rows"] == 205  # every row the champion logged since, reviewed or not


def test_export_round_trip_and_report(service, tmp_path, model_file):
    server, admin, analyst, registry, db = service
    flagged, since = _alerts(analyst, 7)
    truth = _judge(analyst, flagged[:12])
    analyst.feedback(flagged[0]["prediction_id"], "unsure", "ann", note='a "quoted", note')
    for name in ("feedback.csv", "feedback.parquet"):
        path = analyst.export(tmp_path / name, since=since, history=True)
        frame = read_feedback(path)
        assert frame["prediction_id"].nunique() == 200
        judged = frame[frame["verdict"].notna()]
        assert len(judged) == 2 * len(truth) + 1
        assert judged["note"].dropna().tolist() == ['a "quoted", note']
        latest = read_feedback(analyst.export(tmp_path / f"latest-{name}", since=since))
        assert len(latest[latest["verdict"].notna()]) == 2 * len(truth)  # ann's unsure replaced
        found = summarize(latest)
        assert found["flagged"] == len(flagged) and found["reviewed"] == len(truth)
    cli = tmp_path / "cli.csv"
    args = [
        "feedback",
        "export",
        "--registry",
        str(registry),
        "-o",
        str(cli),
        "--since",
        str(since),
    ]
    farout(*args, *(["--db", db] if db else []))
    assert len(read_feedback(cli)) == len(read_feedback(tmp_path / "latest-feedback.csv"))
    data = tmp_path / "data.csv"
    _frame(100, 3).to_csv(data, index=False)
    farout(
        "report",
        str(data),
        "-m",
        str(model_file),
        "-o",
        str(tmp_path / "r.html"),
        "--feedback",
        str(cli),
    )
    page = (tmp_path / "r.html").read_text()
    assert 'data-section="feedback"' in page and "precision" in page
    assert not list(tmp_path.glob(".farout-*"))  # no temporary file left behind
