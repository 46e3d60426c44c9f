"""Schema migrations on a log that holds rows, on SQLite and PostgreSQL: a
database at revision 0004 holding what the service of that revision logged
(``data/log-0004/log.json``, written by its ``make_log.py`` with the farout of
commit 210422a: the rows, and the HTTP API's answers about them) is
upgraded to the head by the command line, then asked the same questions."""

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from servers import Server, make_key, payments

import farout as fo
from farout.client import Client
from farout.service.database import Database, SchemaError, default_url

DATA = Path(__file__).parent / "data" / "log-0004"
FIXTURE = json.loads((DATA / "log.json").read_text())
_spec = importlib.util.spec_from_file_location("log_0004", DATA / "make_log.py")
MAKE = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(MAKE)  # its ask(): the answers, asked the same way


def _load_0004(url, tables):
    """The database at ``url`` at revision 0004, holding ``tables``' rows."""
    db = Database(url)
    db.upgrade("0004")
    metadata = sa.MetaData()
    metadata.reflect(db.engine)
    with db.engine.begin() as c:
        for name, rows in tables.items():
            c.execute(metadata.tables[name].insert(), rows)
        if not db.is_sqlite:  # the rows came with their numbers
            for table, column in (("predictions", "seq"), ("feedback", "id")):
                c.exec_driver_sql(
                    f"SELECT setval('{table}_{column}_seq', (SELECT max({column}) FROM {table}))"
                )
    assert db.revision() == "0004"
    db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def old_log(request, tmp_path):
    """A registry whose database is at 0004 with the fixture's log; (registry,
    the --db argument or None, the database's URL)."""
    registry = tmp_path / "registry"
    registry.mkdir()
    db = request.getfixturevalue("postgres").new_database() if request.param != "sqlite" else None
    url = db or default_url(registry)
    _load_0004(url, FIXTURE["tables"])
    return registry, db, url


def _logged_rows(url):
    """Every log row with its request's values, as the one table of 0004
    had them (``seq`` order)."""
    db = Database(url)
    names = [c for c in FIXTURE["tables"]["predictions"][0] if c != "seq"]
    columns = ", ".join(["predictions.seq", *(f'"{c}"' for c in names)])
    try:
        with db.engine.connect() as c:
            rows = c.execute(
                sa.text(
                    f"SELECT {columns} FROM predictions JOIN requests "
                    "ON requests.id = predictions.request ORDER BY predictions.seq"
                )
            ).mappings()
            return [
                {**r, "shadow": bool(r["shadow"]), "is_anomaly": bool(r["is_anomaly"])}
                for r in rows
            ]
    finally:
        db.close()


def test_upgrade_from_0004_keeps_every_logged_value(old_log):
    """Each row of the one-table log comes back from predictions joined to
    requests with every value as it was, one request row for each request
    and model; the verdicts stay on their predictions; the schema is the
    metadata's, and the log's numbers go on from where they were."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from farout.service.tables import metadata

    registry, _, url = old_log
    db = Database(url)
    db.upgrade()
    try:
        assert db.revision() == Database.head() == "0005"
        old = FIXTURE["tables"]["predictions"]
        assert _logged_rows(url) == old
        with db.engine.connect() as c:
            assert compare_metadata(MigrationContext.configure(c), metadata) == []
            counts = c.execute(sa.text("SELECT count(*), count(DISTINCT request_id) FROM requests"))
            assert tuple(counts.one()) == (
                len({(r["request_id"], r["shadow"]) for r in old}),
                len({r["request_id"] for r in old}),
            )
            verdicts = c.execute(sa.text("SELECT * FROM feedback ORDER BY id")).mappings()
            assert [dict(v) for v in verdicts] == FIXTURE["tables"]["feedback"]
            if db.is_sqlite:  # the upgrade turned them off for itself only
                assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            else:
                last = c.execute(sa.text("SELECT last_value FROM predictions_seq_seq")).scalar()
                assert last == max(r["seq"] for r in old)
    finally:
        db.close()


def test_upgrade_from_0004_answers_as_before(old_log, tmp_path):
    """``farout keys create`` upgrades the database; then every question
    asked of the 0004 service (each filter and page of /v1/predictions, one
    prediction with its verdicts, the feedback summary and exports, the
    comparison) has the same answer, fields in the same order; and a new
    request is logged after the old ones."""
    registry, db, url = old_log
    key = make_key(registry, db)
    upgraded = Database(url)
    assert upgraded.revision() == "0005"
    upgraded.close()
    server = Server(registry, db, "-q").start()
    try:
        client = Client(server.url, key)
        for path, expected in FIXTURE["answers"].items():
            assert MAKE.ask(client, path) == expected, path
        first = MAKE.ask(client, "/v1/predictions?limit=1")[0]["predictions"][0]
        assert list(first) == list(
            FIXTURE["answers"]["/v1/predictions?limit=1000"][0]["predictions"][0]
        )

        path = tmp_path / "p.farout"
        fo.KMeansAnomalyDetector(n_clusters=2, random_state=0).fit(payments(200, 3)).save(path)
        client.upload(path, name="payments")  # version 3; the old files are not here
        answer = client.score(payments(3, 4).to_dict("records"), model="payments/3")
        new = client.predictions(model="payments/3")["predictions"]
        assert [p["prediction_id"] for p in new] == [
            p["prediction_id"] for p in answer["predictions"]
        ]
        assert {p["request_id"] for p in new} == {answer["request_id"]}
        everything = client.predictions(limit=1000)["predictions"]
        assert (
            everything[: len(FIXTURE["tables"]["predictions"])]
            == (FIXTURE["answers"]["/v1/predictions?limit=1000"][0]["predictions"])
        )
        assert everything[-3:] == new
    finally:
        server.stop()


def test_failed_upgrade_on_sqlite_changes_nothing(tmp_path):
    """The upgrade is one transaction, foreign keys checked before it
    commits: a verdict on a prediction the log lacks (written with foreign
    keys off) stops it, and the database stays at 0004 as it was."""
    url = default_url(tmp_path)
    _load_0004(url, FIXTURE["tables"])
    with sqlite3.connect(tmp_path / "farout.db") as c:  # foreign keys off by default
        c.execute(
            "INSERT INTO feedback (prediction_id, verdict, analyst, created_at, key_id) "
            "VALUES ('no-such-prediction', 'normal', 'ana', 1.0, 'k')"
        )
    db = Database(url)
    try:
        with pytest.raises(SchemaError, match="foreign key"):
            db.upgrade()
        assert db.revision() == "0004"
        with db.engine.connect() as c:
            names = set(sa.inspect(c).get_table_names())
            assert "requests" not in names and "_predictions_new" not in names
            count = c.execute(sa.text("SELECT count(*) FROM predictions")).scalar()
            assert count == len(FIXTURE["tables"]["predictions"])
            columns = {col["name"] for col in sa.inspect(c).get_columns("predictions")}
            assert "scored_at" in columns and "request" not in columns
    finally:
        db.close()
