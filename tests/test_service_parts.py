"""The service's parts in-process, where HTTP adds nothing: the registry's
bounded model cache, the key cache's staleness, and the settings' checks."""

import pytest
from servers import payments

import farout as fo

pytest.importorskip("fastapi")

from farout.exceptions import InputError  # noqa: E402
from farout.service.database import Database  # noqa: E402
from farout.service.keys import Keys  # noqa: E402
from farout.service.registry import Registry  # noqa: E402
from farout.service.settings import Settings  # noqa: E402


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'farout.db'}")
    database.upgrade()
    return database


def test_registry_keeps_only_the_most_recently_used_models(tmp_path, db):
    path = tmp_path / "m.farout"
    fo.KMeansAnomalyDetector(n_clusters=2, random_state=0).fit(payments(200, 1)).save(path)
    registry = Registry(tmp_path / "registry", db)
    registry.MAX_LOADED = 2
    for _ in range(4):
        registry.add(path, "payments", actor="test")
    assert len(registry._models) == 2
    first = registry.load("payments", 1)  # dropped before, loaded and checked again
    assert list(registry._models) == [("payments", 4), ("payments", 1)]
    assert registry.load("payments", 1) is first
    registry.load("payments", 4)
    registry.load("payments", 2)
    assert list(registry._models) == [("payments", 4), ("payments", 2)]
    assert registry.exists("payments") and not registry.exists("nothing")


def test_keys_say_when_a_check_would_read_the_database(db):
    keys = Keys(db, refresh=60.0)
    key_id, key = keys.create("score")
    header = f"Bearer {key}"
    assert keys.stale(header)  # nothing loaded yet
    assert keys.check(header, "score")[0] == key_id
    assert not keys.stale(header)  # fresh, and the key is in the cache
    assert keys.check(header, "score", reload=False)[0] == key_id
    # an unknown key id forces a reload, but at most once a second
    assert not keys.stale("Bearer fo_000000000000_x")
    keys._loaded -= 2.0
    assert keys.stale("Bearer fo_000000000000_x") and not keys.stale(header)


@pytest.mark.parametrize("field", ["max_body", "max_upload"])
@pytest.mark.parametrize("value", [0, -5, True, 1.5])
def test_settings_refuse_a_bad_limit_naming_it(tmp_path, field, value):
    with pytest.raises(InputError, match=field):
        Settings(registry=tmp_path, **{field: value})
