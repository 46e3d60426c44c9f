"""The prediction log's writer on SQLite and PostgreSQL: a batch of requests
the challenger shadows, logged by ``Scorer.commit`` as one ``requests`` row
per request and model and each scored row under its own, in order, on each
of PostgreSQL's two ways (one statement for a small batch; the requests'
arrays, then the rows' ``executemany``, for a larger one)."""

import time

import pytest
import sqlalchemy as sa
from servers import payments

import farout as fo

pytest.importorskip("fastapi")

from farout.service import predictions  # noqa: E402
from farout.service.database import Database  # noqa: E402
from farout.service.metrics import Metrics  # noqa: E402
from farout.service.registry import Registry  # noqa: E402
from farout.service.scoring import Scorer  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, tmp_path):
    """(scorer, database): payments/1 the champion, payments/2 the
    challenger."""
    url = (
        request.getfixturevalue("postgres").new_database()
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'farout.db'}"
    )
    db = Database(url)
    db.upgrade()
    registry = Registry(tmp_path / "registry", db)
    for seed in (0, 1):
        path = tmp_path / f"m{seed}.farout"
        fo.KMeansAnomalyDetector(n_clusters=3, random_state=seed).fit(payments(300, seed)).save(
            path
        )
        registry.add(path, "payments", actor="test")
    registry.set_alias("payments", "challenger", 2, actor="test")
    yield Scorer(registry, db, Metrics()), db
    db.close()


@pytest.mark.parametrize(
    "sizes",
    [(1,), (2, 3, 1), (8,), (3, 40, 1)],
    ids=["one row", "small batch", "at the limit", "large batch"],
)
def test_a_batch_is_logged_request_by_request_in_order(served, sizes):
    scorer, db = served
    shadowed = 2 * sum(sizes)  # the challenger scores every row again
    assert (shadowed <= predictions.PG_ONE_STATEMENT_ROWS) == (sizes != (3, 40, 1))
    batch = [payments(n, 10 + i).to_dict("records") for i, n in enumerate(sizes)]
    answers = scorer.score_many([(rows, None, time.perf_counter()) for rows in batch])
    logged, following = predictions.page(db, limit=1000)
    assert following is None and len(logged) == shadowed

    expected = []
    for answer in answers:
        n = len(answer["predictions"])
        for version, alias, shadow in ((1, "champion", False), (2, "challenger", True)):
            expected += [(answer["request_id"], version, alias, shadow, i) for i in range(n)]
    got = [
        (p["request_id"], p["model_version"], p["alias"], p["shadow"], p["row_index"])
        for p in logged
    ]
    assert got == expected
    served_rows = [p for p in logged if not p["shadow"]]
    answered = [p for a in answers for p in a["predictions"]]
    for row, answer in zip(served_rows, answered, strict=True):
        assert {k: row[k] for k in answer} == answer
    for rows, answer in zip(batch, answers, strict=True):
        first = predictions.get(db, answer["predictions"][0]["prediction_id"])
        assert first["input"] == rows[0]
    with db.reading() as c:
        requests = c.execute(
            sa.text("SELECT request_id, shadow, count(*) FROM requests GROUP BY request_id, shadow")
        ).all()
    assert sorted((r, bool(s), k) for r, s, k in requests) == sorted(
        (a["request_id"], shadow, 1) for a in answers for shadow in (False, True)
    )
