"""Make ``log.json``: a prediction log written by the service at schema
revision 0004 (one table, 16 columns a row), and what its HTTP API answered
about it, for tests/test_migrations.py to load into a 0004 database,
upgrade, and ask again.

Run it with a farout whose newest migration is 0004 (commit 210422a) on
PYTHONPATH, from the repository's root:

    git archive 210422a src | tar -x -C /tmp/farout-0004
    PYTHONPATH=/tmp/farout-0004/src python tests/data/log-0004/make_log.py

The log: payments/1 the champion, payments/2 (a per-cluster threshold, so
each row has its own cut) the challenger scoring in shadow; requests to the
champion, to payments/1 pinned (no alias, no shadow) and to payments/2
pinned, flagged rows among them; verdicts from two analysts, one of them
changed (history). Every request is scored at its own time.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from servers import Server, make_key, payments  # noqa: E402

import farout as fo  # noqa: E402
from farout.client import Client  # noqa: E402
from farout.service.database import Database  # noqa: E402
from farout.thresholds import Percentile, PerCluster  # noqa: E402

TABLES = ("model_versions", "model_aliases", "predictions", "feedback")


def queries(first, middle, last):
    """The GET paths asked before and after the upgrade: every filter of
    ``/v1/predictions``, pages of it, the feedback and the comparison."""
    return [
        "/v1/predictions?limit=1000",
        "/v1/predictions?limit=4",
        f"/v1/predictions?since={middle}",
        f"/v1/predictions?until={middle}",
        f"/v1/predictions?since={first}&until={last}",
        "/v1/predictions?model=payments",
        "/v1/predictions?model=payments/1",
        "/v1/predictions?model=payments/2",
        "/v1/predictions?model=other",
        "/v1/predictions?shadow=true",
        "/v1/predictions?shadow=false&flagged=true",
        "/v1/predictions?severity=high",
        "/v1/predictions?reviewed=true",
        "/v1/predictions?reviewed=false&flagged=true",
        "/v1/feedback/summary?since=0&window=1d",
        "/v1/feedback/summary?since=0&window=1d&shadow=true&by=kind",
        "/v1/feedback/export?since=0&history=true",
        "/v1/feedback/export?since=0&shadow=true",
        "/v1/feedback/export?model=payments/1&flagged=true",
        "/v1/models/payments/compare?since=0",
    ]


def ask(client, path):
    """The answers to ``path``: a page and the pages after it, the backlog's
    ages (which grow with the clock) left out."""
    route, _, query = path.partition("?")
    query = dict(p.split("=") for p in query.split("&")) if query else {}
    pages = [client._request("GET", route, query=query)]
    while isinstance(pages[-1], dict) and pages[-1].get("next_cursor"):
        pages.append(
            client._request("GET", route, query={**query, "cursor": pages[-1]["next_cursor"]})
        )
    for page in pages:
        if isinstance(page, dict) and "backlog" in page:
            for age in ("oldest_age_seconds", "median_age_seconds"):
                page["backlog"][age] = page["backlog"][age] is not None
    return pages


def main():
    work = Path(tempfile.mkdtemp(prefix="farout-log-0004-"))
    data = payments(600, 0)
    tiers = {"low": Percentile(95), "high": Percentile(99)}
    one = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, tiers=tiers).fit(data)
    two = fo.KMeansAnomalyDetector(
        n_clusters=4, random_state=1, threshold=PerCluster(q=97), tiers=tiers
    ).fit(data)
    one.save(work / "payments.farout")
    two.save(work / "payments-v2.farout")
    registry = work / "registry"
    key = make_key(registry)
    db = Database(f"sqlite:///{registry / 'farout.db'}")
    assert db.revision() == "0004", db.revision()
    server = Server(registry, None, "-q").start()
    try:
        client = Client(server.url, key)
        client.upload(work / "payments.farout")
        client.upload(work / "payments-v2.farout", name="payments")
        client.set_alias("payments", "challenger", 2)
        rows = payments(24, 7).to_dict("records")
        rows[11].update(amount=0.5)
        rows[20].update(amount=9000.0, kind="wire", account="A-17")
        for i in (3, 5, 7, 15, 17):
            rows[i].update(amount=2000.0 + 1000 * i, hour=2.0)
        answers, times = [], []
        for part, model in (
            (rows[0:6], None),
            (rows[6:8], "payments/1"),
            (rows[8:14], "payments@champion"),
            (rows[14:17], "payments/2"),
            (rows[17:18], None),
            (rows[18:24], None),
        ):
            times.append(time.time())
            answers.append(client.score(part, model=model))
            time.sleep(0.05)
        flagged = [p["prediction_id"] for a in answers for p in a["predictions"] if p["is_anomaly"]]
        assert len(flagged) >= 3, flagged
        served = [p["prediction_id"] for p in answers[0]["predictions"]]
        client.feedback(flagged[0], "anomaly", "ana", note="a card never used at night")
        client.feedback(flagged[0], "normal", "bo")
        client.feedback(flagged[1], "normal", "ana")
        client.feedback(flagged[1], "anomaly", "ana", note="changed my mind")
        client.feedback(served[1], "unsure", "bo")
        first, last = times[0] - 1, times[-1] + 1
        middle = (times[2] + times[3]) / 2
        paths = queries(first, middle, last)
        got = {path: ask(client, path) for path in paths}
        with db.engine.connect() as c:
            ids = [r[0] for r in c.execute(sa.text("SELECT prediction_id FROM predictions"))]
        for prediction_id in ids[::3]:  # every request's rows among them
            got[f"/v1/predictions/{prediction_id}"] = ask(
                client, f"/v1/predictions/{prediction_id}"
            )
        again = {path: ask(client, path) for path in got}
        assert again == got, "the answers change from one call to the next"
    finally:
        server.stop()
    metadata = sa.MetaData()
    metadata.reflect(db.engine, only=TABLES)
    with db.engine.connect() as c:
        tables = {
            name: [
                dict(r._mapping)
                for r in c.execute(sa.select(metadata.tables[name]).order_by(sa.text("1")))
            ]
            for name in TABLES
        }
    db.close()
    cuts = {r["threshold"] for r in tables["predictions"] if r["model_version"] == 2}
    assert len(cuts) > 1, "payments/2 cuts each cluster on its own"
    out = {"times": [first, middle, last], "tables": tables, "answers": got}
    (HERE / "log.json").write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"{len(tables['predictions'])} log rows, {len(got)} answers: {HERE / 'log.json'}")


if __name__ == "__main__":
    main()
