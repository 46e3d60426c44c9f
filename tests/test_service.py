"""The scoring service, over real HTTP to ``farout serve`` in a subprocess
on 127.0.0.1, against SQLite and a real PostgreSQL server."""

import concurrent.futures
import http.client
import json
import pathlib
import sqlite3
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from servers import Server, farout, make_key
from servers import payments as _frame

import farout as fo
from farout.client import APIError, Client
from farout.thresholds import Percentile


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    data = _frame(600, 0)
    tiers = {"low": Percentile(95), "high": Percentile(99)}
    one = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, tiers=tiers).fit(data)
    two = fo.KMeansAnomalyDetector(n_clusters=5, random_state=1, tiers=tiers).fit(data)
    one.save(folder / "payments.farout")
    two.save(folder / "payments-v2.farout")
    return folder / "payments.farout", folder / "payments-v2.farout", one, two


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory, model_files):
    """A running service with the first model registered; (server, admin
    client, score client, db url)."""
    registry = tmp_path_factory.mktemp(f"registry-{request.param}")
    db = (
        request.getfixturevalue("postgres").new_database()
        if request.param == "postgresql"
        else None
    )
    admin_key, score_key = make_key(registry, db), make_key(registry, db, scope="score")
    server = Server(registry, db).start()
    try:
        admin, reader = Client(server.url, admin_key), Client(server.url, score_key)
        admin.upload(model_files[0])
        yield server, admin, reader, db or f"sqlite:///{registry / 'farout.db'}"
    finally:
        server.stop()


ROWS = [
    {"amount": 20.0, "hour": 12.0, "kind": "card"},
    {"amount": 9000.0, "hour": 3.0, "kind": "wire", "account": "A-17"},
]


_LOG = "predictions JOIN requests ON requests.id = predictions.request"


def _count(db_url, where="1=1"):
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as c:
            return c.execute(sa.text(f"SELECT count(*) FROM {_LOG} WHERE {where}")).scalar()
    finally:
        engine.dispose()


def test_service_scores_like_the_library_and_logs_every_row(service, model_files):
    server, admin, reader, db = service
    answer = reader.score(ROWS)
    assert answer["model"] == {"name": "payments", "version": 1, "alias": "champion"}
    found = model_files[2].detect(pd.DataFrame(ROWS)[["amount", "hour", "kind"]])
    got = pd.DataFrame(answer["predictions"])
    np.testing.assert_allclose(got["anomaly_score"], found["anomaly_score"], rtol=1e-12)
    assert got["is_anomaly"].tolist() == found["is_anomaly"].tolist() == [False, True]
    assert got["severity"].tolist() == found["severity"].tolist()
    assert got["reason"].tolist() == found["reason"].tolist()
    assert got["cluster"].tolist() == found["cluster"].tolist()
    # the log row holds everything, the input with its extra column
    row = reader.prediction(answer["predictions"][1]["prediction_id"])
    assert row["input"] == ROWS[1]
    assert row["request_id"] == answer["request_id"]
    assert (row["model_name"], row["model_version"], row["alias"]) == ("payments", 1, "champion")
    assert row["threshold"] == pytest.approx(model_files[2].threshold_.cut_)
    assert row["is_anomaly"] is True and row["shadow"] is False
    assert row["severity"] == found["severity"][1] and row["latency_ms"] > 0
    assert _count(db, f"request_id = '{answer['request_id']}'") == 2


def test_service_refuses_a_bad_row_and_logs_nothing_of_it(service):
    server, admin, reader, db = service
    before = _count(db)
    bad = [ROWS[0], {"amount": "lots", "hour": 1.0, "kind": "card"}]
    with pytest.raises(APIError) as caught:
        reader.score(bad)
    error = caught.value
    assert (error.status, error.fields) == (422, {"row": 1, "column": "amount"})
    assert "rows[1]" in error.message and "'amount'" in error.message
    for rows, column in (
        ([{"amount": 1.0, "kind": "card"}], "hour"),
        ([{"amount": 1.0, "hour": None, "kind": "card"}], "hour"),
        ([{"amount": 1.0, "hour": 2.0, "kind": 3.5}], "kind"),
        ([{"amount": True, "hour": 2.0, "kind": "card"}], "amount"),
    ):
        with pytest.raises(APIError) as caught:
            reader.score(rows)
        assert caught.value.status == 422 and caught.value.fields["column"] == column
    for body in ({"rows": []}, {"rows": "x"}, {}, {"rows": [ROWS[0]], "model": "nope@boss"}):
        with pytest.raises(APIError) as caught:
            reader._request("POST", "/v1/score", body)
        assert caught.value.status == 422, body
    assert _count(db) == before


def test_service_keys_scopes_and_errors_are_json(service, model_files):
    server, admin, reader, db = service
    for key in (None, "nope", "fo_123456789abc_wrong"):
        with pytest.raises(APIError) as caught:
            Client(server.url, key).score(ROWS)
        assert caught.value.status == 401 and caught.value.code == "unauthorized"
    with pytest.raises(APIError) as caught:
        reader.upload(model_files[1])
    assert caught.value.status == 403
    with pytest.raises(APIError) as caught:
        reader.set_alias("payments", "champion", 1)
    assert caught.value.status == 403
    with pytest.raises(APIError) as caught:
        reader._request("GET", "/v1/nothing-here")
    assert caught.value.status == 404
    # health, readiness and metrics need no key
    anyone = Client(server.url)
    assert anyone.health()["status"] == "ok"
    assert anyone._request("GET", "/readyz")["status"] == "ready"
    text = anyone._request("GET", "/metrics")
    assert 'farout_requests_total{route="/v1/score",status="401"}' in text
    assert "farout_request_latency_seconds_bucket" in text
    assert 'farout_model_version{alias="champion",model="payments"} 1.0' in text
    assert "farout_rows_scored_total" in text and "farout_alerts_total" in text
    # no key is ever written to the server's log
    assert admin.api_key not in server.log() and reader.api_key not in server.log()


def test_service_upload_checks_the_file(service, tmp_path):
    server, admin, reader, db = service
    junk = tmp_path / "junk.farout"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(APIError) as caught:
        admin.upload(junk)
    assert caught.value.status == 422 and caught.value.fields == {"field": "file"}
    with pytest.raises(APIError) as caught:
        admin.upload(junk, name="../etc")
    assert caught.value.status == 422


def test_service_shadow_compare_and_rollback(service, model_files):
    server, admin, reader, db = service
    v2 = admin.upload(model_files[1], name="payments")
    assert v2["version"] == 2 and v2["sha256"] and v2["aliases"] == []
    admin.set_alias("payments", "challenger", 2)
    rows = _frame(200, 5).to_dict("records")
    answer = reader.score(rows)
    assert answer["model"]["version"] == 1  # the challenger never answers
    shadow = list(reader.iter_predictions(shadow=True, model="payments/2", limit=70))
    ours = [p for p in shadow if p["request_id"] == answer["request_id"]]
    assert len(ours) == 200 and all(p["alias"] == "challenger" for p in ours)
    expected = model_files[3].anomaly_score(pd.DataFrame(rows))
    np.testing.assert_allclose([p["anomaly_score"] for p in ours], expected, rtol=1e-12)
    report = reader.compare("payments")
    assert report["rows"] >= 200 and report["challenger"]["version"] == 2
    assert 0 <= report["flag_agreement"] <= 1 and -1 <= report["score_rank_correlation"] <= 1
    # promote, then roll back, while requests keep coming: none is dropped
    statuses, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            statuses.append(reader.score(ROWS)["model"]["version"])

    worker = threading.Thread(target=load)
    worker.start()
    try:
        admin.set_alias("payments", "champion", 2)
        admin.clear_alias("payments", "challenger")
        admin.set_alias("payments", "champion", 1)
    finally:
        stop.set()
        worker.join()
    assert statuses and set(statuses) <= {1, 2}
    assert reader.score(ROWS)["model"]["version"] == 1
    pinned = reader.score(ROWS, model="payments/2")
    assert pinned["model"] == {"name": "payments", "version": 2, "alias": None}
    changes = [
        (c["action"], c["alias"], c["from_version"], c["to_version"])
        for c in admin.audit("payments")
    ]
    assert changes[-3:] == [
        ("set_alias", "champion", 1, 2),
        ("clear_alias", "challenger", 2, None),
        ("set_alias", "champion", 2, 1),
    ]
    assert all(c["actor"].startswith("key ") for c in admin.audit("payments"))
    models = reader.models()
    assert models[0]["aliases"] == {"champion": 1}
    assert [v["version"] for v in models[0]["versions"]] == [1, 2]


def test_service_pages_the_log_for_audits(service):
    server, admin, reader, db = service
    answer = reader.score(_frame(30, 9).to_dict("records"))
    ids = {p["prediction_id"] for p in answer["predictions"]}
    seen, cursor, pages = [], None, 0
    while True:
        page = reader.predictions(limit=7, cursor=cursor, shadow=False)
        seen += page["predictions"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids <= {p["prediction_id"] for p in seen}
    assert len({p["prediction_id"] for p in seen}) == len(seen)  # no row twice
    flagged = reader.predictions(flagged=True, limit=1000)["predictions"]
    assert flagged and all(p["is_anomaly"] for p in flagged)
    assert reader.predictions(since="2999-01-01T00:00:00Z")["predictions"] == []
    with pytest.raises(APIError) as caught:
        reader.predictions(since="yesterday")
    assert caught.value.status == 422 and caught.value.fields == {"field": "since"}
    with pytest.raises(APIError) as caught:
        reader.prediction("0" * 32)
    assert caught.value.status == 404


def test_service_schemathesis_finds_no_server_error(service, tmp_path):
    """A property-based run over the OpenAPI schema (schemathesis): no
    request, however odd, gets a 500."""
    server, admin, reader, db = service
    tool = pathlib.Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [
            str(tool),
            "run",
            server.url + "/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {admin.api_key}",
            "--max-examples",
            "30",
            "--seed",
            "7",
            "--no-color",
        ],
        capture_output=True,
        cwd=tmp_path,  # its cache stays out of the work tree
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout
    assert admin.api_key not in done.stdout


def _load_until_killed(server, key, rows, after):
    """Concurrent score requests; kill -9 the server once ``after`` have
    been answered. Returns the prediction ids of every 200."""
    client = Client(server.url, key, timeout=10)
    answered, lock = [], threading.Lock()
    killed = threading.Event()

    def one(_):
        if killed.is_set():
            return
        try:
            answer = client.score(rows)
        except (APIError, OSError, http.client.HTTPException):  # cut off by the kill
            return
        with lock:
            answered.extend(p["prediction_id"] for p in answer["predictions"])
            if len(answered) >= after * len(rows) and not killed.is_set():
                killed.set()
                server.kill()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(400)))
    return answered


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_service_kill_9_loses_no_answered_prediction(backend, tmp_path, model_files, request):
    db = request.getfixturevalue("postgres").new_database() if backend == "postgresql" else None
    key = make_key(tmp_path, db)
    server = Server(tmp_path, db, "-q").start()
    try:
        Client(server.url, key).upload(model_files[0])
        answered = _load_until_killed(server, key, _frame(5, 3).to_dict("records"), after=60)
    finally:
        server.stop()
    assert server.process.returncode == -9
    assert len(answered) >= 300
    restarted = Server(tmp_path, db, "-q").start()
    try:
        client = Client(restarted.url, key)
        logged = {p["prediction_id"] for p in client.iter_predictions(limit=1000)}
    finally:
        restarted.stop()
    assert set(answered) <= logged


def test_service_locked_database_answers_503_and_logs_nothing(tmp_path, model_files):
    key = make_key(tmp_path)
    server = Server(tmp_path, None, "--busy-timeout", "0.3", "-q").start()
    try:
        client = Client(server.url, key)
        client.upload(model_files[0])
        client.score(ROWS)
        lock = sqlite3.connect(tmp_path / "farout.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(APIError) as caught:
                client.score(ROWS)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert caught.value.status == 503 and caught.value.retry_after == "1"
        assert "locked" in caught.value.message
        assert _count(f"sqlite:///{tmp_path / 'farout.db'}") == 2
        assert client.score(ROWS)["predictions"]  # and it recovers
    finally:
        server.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs, so that the disk really fills (needs root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_service_full_disk_answers_503_and_recovers(small_disk, tmp_path, model_files):
    registry = small_disk / "registry"
    key = make_key(registry)
    server = Server(registry, None, "-q", log_dir=tmp_path).start()
    try:
        client = Client(server.url, key)
        client.upload(model_files[0])
        client.score(ROWS)
        filler = small_disk / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        rows = _frame(1000, 4).to_dict("records")
        with pytest.raises(APIError) as caught:
            for _ in range(50):  # until the database's free pages are used up
                client.score(rows)
        assert caught.value.status == 503 and caught.value.retry_after == "1"
        assert "full" in caught.value.message
        answered = _count(f"sqlite:///{registry / 'farout.db'}")
        filler.unlink()
        assert len(client.score(ROWS)["predictions"]) == 2
        assert _count(f"sqlite:///{registry / 'farout.db'}") == answered + 2
    finally:
        server.stop()


def test_service_database_gone_answers_503_then_recovers(tmp_path, model_files, postgres):
    db = postgres.new_database()
    key = make_key(tmp_path, db)
    server = Server(tmp_path, db, "-q").start()
    try:
        client = Client(server.url, key)
        client.upload(model_files[0])
        client.score(ROWS)
        postgres.stop()
        try:
            with pytest.raises(APIError) as caught:
                client.score(ROWS)
            assert caught.value.status == 503 and caught.value.retry_after == "1"
            with pytest.raises(APIError) as caught:
                Client(server.url)._request("GET", "/readyz")
            assert caught.value.status == 503
        finally:
            postgres.start()
        assert len(client.score(ROWS)["predictions"]) == 2
        assert _count(db) == 4
    finally:
        server.stop()


def test_service_refuses_a_schema_newer_than_it_knows(tmp_path):
    make_key(tmp_path)
    with sqlite3.connect(tmp_path / "farout.db") as c:
        c.execute("UPDATE alembic_version SET version_num = '9999_future'")
    done = farout("serve", "--registry", str(tmp_path), check=False)
    assert done.returncode == 2
    assert "9999_future" in done.stderr and "newer farout" in done.stderr


def test_service_migrations_match_the_tables(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from farout.service.database import Database
    from farout.service.tables import metadata

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.upgrade()
    with db.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), metadata) == []
    assert db.revision() == Database.head()
    db.close()


def test_service_keys_are_stored_only_as_hashes(tmp_path):
    key = make_key(tmp_path, scope="score")
    listed = farout("keys", "list", "--registry", str(tmp_path)).stdout
    key_id = key.split("_")[1]
    assert key_id in listed and key not in listed
    with sqlite3.connect(tmp_path / "farout.db") as c:
        stored = json.dumps(c.execute("SELECT * FROM api_keys").fetchall())
    assert key not in stored and key.split("_", 2)[2] not in stored
    farout("keys", "revoke", key_id, "--registry", str(tmp_path))
    assert "revoked" in farout("keys", "list", "--registry", str(tmp_path)).stdout
    done = farout("keys", "revoke", "nope", "--registry", str(tmp_path), check=False)
    assert done.returncode == 2 and "no live key" in done.stderr


def test_requests_scored_together_answer_as_alone(tmp_path, model_files):
    """The batcher scores waiting requests in one call: each answer equals
    its request scored alone, and a bad request fails alone, its row
    numbered within it."""
    import time

    from farout.service.database import Database
    from farout.service.metrics import Metrics
    from farout.service.registry import Registry
    from farout.service.scoring import Scorer

    db = Database(f"sqlite:///{tmp_path / 'farout.db'}")
    db.upgrade()
    registry = Registry(tmp_path, db)
    registry.add(model_files[0], "payments", actor="test")
    scorer = Scorer(registry, db, Metrics())
    good = [_frame(n, seed).to_dict("records") for n, seed in ((3, 1), (1, 2), (40, 3))]
    huge = [ROWS[0], {"amount": 1e308, "hour": 1.0, "kind": "card"}]
    typo = [{"amount": 1.0, "hour": 2.0, "kinds": "card"}]
    now = time.perf_counter()
    answers = scorer.score_many(
        [
            (good[0], None, now),
            (huge, None, now),
            (good[1], None, now),
            (typo, None, now),
            (good[2], "payments@champion", now),
        ]
    )
    assert answers[1].status == 422
    assert "at row 1" in answers[1].message and "amount" in answers[1].message
    assert answers[3].status == 422 and answers[3].fields == {"row": 0, "column": "kind"}
    for answer, rows in zip((answers[0], answers[2], answers[4]), good, strict=True):
        alone = scorer.score(rows)
        for key in ("anomaly_score", "is_anomaly", "severity", "reason", "cluster"):
            assert [p[key] for p in answer["predictions"]] == [p[key] for p in alone["predictions"]]
        assert answer["request_id"] != alone["request_id"]
    with db.reading() as c:
        logged = c.execute(sa.text("SELECT count(*) FROM predictions")).scalar()
    assert logged == 2 * sum(map(len, good))  # the failed requests logged nothing
    db.close()


def test_one_odd_request_or_challenger_never_fails_the_others(tmp_path, model_files):
    """Found in review: a version like '²' or 2**70, or a challenger fitted on
    other columns, turned a whole batch into 500s."""
    import time

    from farout.service.database import Database
    from farout.service.metrics import Metrics
    from farout.service.predictions import parse_time
    from farout.service.registry import Registry
    from farout.service.scoring import Scorer

    db = Database(f"sqlite:///{tmp_path / 'farout.db'}")
    db.upgrade()
    registry = Registry(tmp_path, db)
    registry.add(model_files[0], "payments", actor="k" * 200)  # a long actor is cut, not refused
    other = _frame(300, 8).rename(columns={"hour": "minute"})
    path = tmp_path / "other.farout"
    fo.KMeansAnomalyDetector(n_clusters=2, random_state=0).fit(other).save(path)
    registry.add(path, "payments", actor="test")
    registry.set_alias("payments", "challenger", 2, actor="test")
    scorer = Scorer(registry, db, Metrics())
    now = time.perf_counter()
    answers = scorer.score_many(
        [
            (ROWS, None, now),
            (ROWS, "payments/²", now),
            (ROWS, f"payments/{2**70}", now),
            ([{**ROWS[0], "kind": "a\x00b"}], None, now),
            (ROWS, None, now),
        ]
    )
    assert answers[0]["predictions"] and answers[4]["predictions"]
    assert [a.status for a in answers[1:4]] == [422, 422, 422]
    assert answers[3].fields == {"row": 0, "column": "kind"}
    with db.reading() as c:
        shadow = c.execute(sa.text(f"SELECT count(*) FROM {_LOG} WHERE shadow")).scalar()
    assert shadow == 0  # the challenger lacks 'minute' in these rows: not shadowed, not fatal
    for bad in ("nan", "inf", "1e20", "0001-01-01T00:00:00+14:00"):
        with pytest.raises(Exception) as caught:
            parse_time(bad, "since")
        assert caught.value.status == 422
    assert len(registry.audit("payments")[0]["actor"]) == 64
    db.close()


def _raw(url, method, path, headers, body=b"", chunks=None, timeout=10):
    """Status and JSON body of a request sent by hand (declared lengths and
    chunked bodies that a client library would not send)."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=timeout)
    try:
        if chunks is None:
            connection.putrequest(method, path)
            for k, v in headers.items():
                connection.putheader(k, v)
            connection.endheaders()
            if body:
                connection.send(body)
        else:
            connection.request(
                method, path, body=iter(chunks), headers=headers, encode_chunked=True
            )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_service_limits_bodies_and_checks_the_key_before_an_upload(tmp_path, model_files):
    """A declared length over the limit is refused before the body is sent;
    a chunked body is cut off at the limit; an upload is refused for its key
    before its bytes are read. Each answer is JSON."""
    registry = tmp_path / "registry"
    admin, key = make_key(registry), make_key(registry, scope="score")
    server = Server(registry, None, "--max-body", "20000", "-q").start()
    try:
        Client(server.url, admin).upload(model_files[0])
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        status, body = _raw(server.url, "POST", "/v1/score", {**auth, "Content-Length": "10000000"})
        assert status == 413 and body["error"]["code"] == "too_large"
        row = json.dumps(ROWS[0]).encode()
        chunks = [b'{"rows": [', *([row + b","] * 1000), row, b"]}"]
        status, body = _raw(server.url, "POST", "/v1/score", auth, chunks=chunks)
        assert status == 413 and "20,000 bytes" in body["error"]["message"]
        # 50 MB declared and never sent: the answer comes without waiting for it
        for headers, expected in (({}, 401), ({"Authorization": f"Bearer {key}"}, 403)):
            status, body = _raw(
                server.url,
                "POST",
                "/v1/models",
                {
                    **headers,
                    "Content-Type": "multipart/form-data; boundary=x",
                    "Content-Length": str(50 << 20),
                },
                timeout=5,
            )
            assert status == expected and body["error"]["code"] in ("unauthorized", "forbidden")
        assert Client(server.url, key).score(ROWS[:2])["predictions"]  # small bodies still pass
    finally:
        server.stop()


def test_service_huge_value_names_its_row_and_column(service):
    """A finite value too large to scale is refused by the library, and the
    422 still names the row and column as fields."""
    server, admin, reader, db = service
    before = _count(db)
    with pytest.raises(APIError) as caught:
        # pinned: the schemathesis run before may have moved the aliases
        reader.score([ROWS[0], {**ROWS[0], "amount": 1e306}], model="payments/1")
    assert caught.value.status == 422
    assert caught.value.fields == {"row": 1, "column": "amount"}
    assert _count(db) == before


def test_service_compare_of_an_unknown_model_is_404(service):
    server, admin, reader, db = service
    with pytest.raises(APIError) as caught:
        reader._request("GET", "/v1/models/no-such-model/compare")
    assert caught.value.status == 404


def test_service_log_sequences_are_64_bit_on_postgresql(postgres):
    """int4 would end the prediction log at 2**31 - 1 rows; the requests
    table of 0005 (and the log's reference to it) is 64-bit too, and the
    whole schema is the metadata's."""
    from farout.service.database import Database

    url = postgres.new_database()
    db = Database(url)
    db.upgrade()
    try:
        with db.engine.connect() as c:
            types = dict(
                c.execute(
                    sa.text(
                        "SELECT table_name || '.' || column_name, data_type FROM "
                        "information_schema.columns WHERE (table_name, column_name) IN "
                        "(('predictions', 'seq'), ('feedback', 'id'), ('alert_cursor', 'seq'), "
                        "('requests', 'id'), ('predictions', 'request'))"
                    )
                ).all()
            )
            tops = dict(
                c.execute(
                    sa.text(
                        "SELECT sequencename, max_value FROM pg_sequences WHERE sequencename IN "
                        "('predictions_seq_seq', 'requests_id_seq', 'feedback_id_seq')"
                    )
                ).all()
            )
        assert types == {
            "predictions.seq": "bigint",
            "feedback.id": "bigint",
            "alert_cursor.seq": "bigint",
            "requests.id": "bigint",
            "predictions.request": "bigint",
        }
        assert tops == dict.fromkeys(
            ("predictions_seq_seq", "requests_id_seq", "feedback_id_seq"), 2**63 - 1
        )
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        from farout.service.tables import metadata

        with db.engine.connect() as c:
            assert compare_metadata(MigrationContext.configure(c), metadata) == []
    finally:
        db.close()
