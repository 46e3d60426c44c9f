"""Per-entity aggregates and calendar context (issue 12, part 2): online
equals batch, prefixes, bounded state with eviction, checkpoints, drift
left to the input's own columns, and `farout stream --entity-column`."""

import numpy as np
import pandas as pd
import pytest

from farout.cli import main
from farout.exceptions import InputError
from farout.features import CalendarFeatures, EntityFeatures, FeatureStack, WindowFeatures
from farout.streaming import StreamDetector


def _payments(n=3000, entities=40, seed=0):
    """Payments of ``entities`` customers, times in order (some equal)."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(0, 600, n)  # 0: two payments in the same second
    times = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.cumsum(gaps), unit="s")
    who = rng.choice([f"c{i}" for i in range(entities)], n)
    frame = pd.DataFrame({"amount": rng.lognormal(3, 0.5, n), "items": rng.poisson(3, n) + 1.0})
    return frame, pd.DatetimeIndex(times), who


def _seconds(times):
    return np.asarray((times - pd.Timestamp(0)) / pd.Timedelta(seconds=1))


def _online(features, frame, times, who, size=700):
    """The online path over the rows in blocks of ``size``."""
    seconds, n = _seconds(times), len(frame)
    blocks = [
        features.online(
            frame.iloc[i : i + size].to_numpy(),
            seconds=seconds[i : i + size],
            rows=np.arange(i, min(n, i + size), dtype=float),
            entities=list(who[i : i + size]),
        )
        for i in range(0, n, size)
    ]
    return np.vstack(blocks)


SETTINGS = [
    {"span": "1h"},
    {"span": "2h", "idle": "3h"},
    {"span": 50},
    {"span": 50, "idle": 200, "half_life": 5.0},
    {"span": "6h", "max_events": 3},
    {"span": "30min", "half_life": 1.0},
]


@pytest.mark.parametrize(
    "params", SETTINGS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items())
)
@pytest.mark.parametrize("size", [1, 700, 3000])
def test_entity_features_online_equal_the_batch_path(params, size):
    frame, times, who = _payments(3000 if size > 1 else 600, entities=12)
    batch = EntityFeatures(**params).transform(frame, times=times, entities=who)
    online = _online(EntityFeatures(**params), frame, times, who, size)
    assert list(batch.columns) == EntityFeatures(**params).names(["amount", "items"])
    np.testing.assert_allclose(online, batch.to_numpy(), rtol=1e-9, atol=1e-9)
    # the features are not constant: the test can fail
    assert batch["entity_count"].nunique() > 2 and (batch["amount_entity_z"] != 0).mean() > 0.2


def test_entity_features_by_hand():
    f = EntityFeatures(span=3)
    values = [10.0, 20.0, 99.0, 40.0, 30.0, 20.0, 10.0, 60.0]
    keys = ["a", "a", "b", "a", "a", "a", "a", "a"]
    out = f.online(np.array(values)[:, None], rows=np.arange(8.0), entities=keys)
    # count in the last 3 rows, since (at most the span), ratio to the mean
    # before, z against the mean and sd before (from 5 earlier events)
    assert out[0].tolist() == [1.0, 3.0, 1.0, 0.0]  # new: since reads the horizon
    assert out[1].tolist() == [2.0, 1.0, 2.0, 0.0]
    assert out[2].tolist() == [1.0, 3.0, 1.0, 0.0]
    assert out[3].tolist() == [2.0, 2.0, 40 / 15, 0.0]  # row 0 has left the span
    before = [10.0, 20.0, 40.0, 30.0, 20.0, 10.0]
    mean, sd = np.mean(before), np.std(before)
    np.testing.assert_allclose(out[7], [3.0, 1.0, 60 / mean, (60 - mean) / sd])
    assert out[5, 3] == 0.0 and out[6, 3] != 0.0  # z from 5 earlier events on
    plain = EntityFeatures(span=3, ratio=False)
    assert plain.names(["v"]) == ["entity_count", "entity_since", "v_entity_z"]
    got = plain.online(np.array(values)[:, None], rows=np.arange(8.0), entities=keys)
    np.testing.assert_array_equal(got, out[:, [0, 1, 3]])


def test_a_row_s_entity_features_use_only_the_rows_before_it():
    frame, times, who = _payments(2000)
    whole = _online(EntityFeatures(span="2h", idle="1d"), frame, times, who)
    for k in (1, 137, 1500):
        head = _online(EntityFeatures(span="2h", idle="1d"), frame.iloc[:k], times[:k], who[:k])
        np.testing.assert_array_equal(head, whole[:k])
        batch = EntityFeatures(span="2h", idle="1d").transform(
            frame.iloc[:k], times=times[:k], entities=who[:k]
        )
        np.testing.assert_allclose(batch.to_numpy(), whole[:k], rtol=1e-9, atol=1e-9)


def test_eviction_bounds_the_state_and_an_evicted_entity_starts_afresh():
    rng = np.random.default_rng(1)
    n, cap = 5000, 50
    who = [f"e{i}" for i in rng.integers(0, 400, n)]
    values = rng.lognormal(3, 1, (n, 1))
    f = EntityFeatures(span=10**9, max_entities=cap)
    out, held = [], []
    for i in range(0, n, 250):
        out.append(
            f.online(values[i : i + 250], rows=np.arange(i, i + 250.0), entities=who[i : i + 250])
        )
        held.append(f.n_entities_)
    out = np.vstack(out)
    assert max(held) == cap
    # LRU: an entity starts afresh iff `cap` other entities came since its last row
    last, fresh = {}, []
    for i, key in enumerate(who):
        others = set(who[last[key] + 1 : i]) - {key} if key in last else None
        fresh.append(others is None or len(others) >= cap)
        last[key] = i
    fresh = np.array(fresh)
    assert 0 < fresh[len(set(who)) :].sum() < n  # some returning entities were evicted
    new = out[fresh]
    np.testing.assert_array_equal(new[:, 0], 1.0)  # count, since, ratio, z of a new entity
    np.testing.assert_array_equal(new[:, 1], 10.0**9)
    np.testing.assert_array_equal(new[:, 2:], [[1.0, 0.0]] * len(new))
    assert (out[~fresh, 1] < 10**9).all()


def test_idle_entities_are_dropped_and_then_start_afresh():
    f = EntityFeatures(span=5, idle=10)
    keys = ["a"] + [f"x{i}" for i in range(30)] + ["a"]
    out = f.online(np.ones((32, 1)), rows=np.arange(32.0), entities=keys)
    assert f.n_entities_ <= 11  # only those seen in the last 10 rows
    assert out[-1].tolist() == [1.0, 10.0, 1.0, 0.0]  # "a" was idle for 31 rows
    again = f.online(np.ones((1, 1)), rows=np.array([35.0]), entities=["a"])
    assert again[0, :2].tolist() == [2.0, 4.0]


def test_entity_state_round_trips_and_continues_the_same(tmp_path):
    frame, times, who = _payments(2000)
    who = np.array([f"клиент {w}" for w in who])  # keys are any text
    params = {"span": "2h", "idle": "2d", "half_life": 20.0}
    whole = _online(EntityFeatures(**params), frame, times, who)
    first = EntityFeatures(**params)
    _online(first, frame.iloc[:900], times[:900], who[:900])
    state = first.get_state()
    assert all(a.dtype.kind in "biuf" for a in state["arrays"].values())  # nothing pickled
    again = EntityFeatures.from_state(state)
    assert again.n_entities_ == first.n_entities_
    seconds = _seconds(times)
    rest = again.online(
        frame.iloc[900:].to_numpy(), seconds=seconds[900:], entities=list(who[900:])
    )
    np.testing.assert_array_equal(rest, whole[900:])


def test_a_stream_with_entity_and_calendar_features_resumes_exactly(tmp_path):
    frame, times, who = _payments(4000)
    frame.loc[3500, "amount"] = 5000.0

    def make():
        parts = [WindowFeatures(), EntityFeatures(span="1h", idle="1d"), CalendarFeatures()]
        return StreamDetector(features=parts)

    whole = make().process(frame, times=times, entities=who)
    det = make()
    det.process(frame.iloc[:2500], times=times[:2500], entities=who[:2500])
    det.save(tmp_path / "s.farout")
    rest = StreamDetector.load(tmp_path / "s.farout").process(
        frame.iloc[2500:], times=times[2500:], entities=who[2500:]
    )
    pd.testing.assert_frame_equal(rest, whole.iloc[2500:])
    assert whole["is_anomaly"].iloc[3500]


def test_the_model_sees_the_stacked_features():
    frame, times, who = _payments(1500)
    parts = [WindowFeatures(), EntityFeatures(span=100), CalendarFeatures()]
    stack = FeatureStack.of(parts)
    batch = stack.transform(frame, times=times, entities=who)
    assert list(batch.columns) == [
        "amount", "items", "entity_count", "entity_since", "amount_entity_ratio",
        "amount_entity_z", "items_entity_ratio", "items_entity_z",
        "hour_sin", "hour_cos", "weekday_sin", "weekday_cos",
    ]  # fmt: skip
    online = FeatureStack.of([WindowFeatures(), EntityFeatures(span=100), CalendarFeatures()])
    got = online.online(
        frame.to_numpy(), seconds=_seconds(times), rows=np.arange(1500.0), entities=list(who)
    )
    np.testing.assert_allclose(got, batch.to_numpy(), rtol=1e-9, atol=1e-9)


def test_calendar_features_by_hand():
    f = CalendarFeatures()
    times = ["2026-01-05 06:00", "2026-01-11 18:00", "2026-01-05 00:00+01:00"]
    out = f.transform(pd.DataFrame(index=range(2)), times=times[:2]).to_numpy()
    # Monday 06:00: a quarter of the day, 1/28 of the week
    np.testing.assert_allclose(out[0], [1, 0, np.sin(np.pi / 14), np.cos(np.pi / 14)], atol=1e-12)
    # Sunday 18:00: three quarters of the day, 6.75 / 7 of the week
    w = 2 * np.pi * 6.75 / 7
    np.testing.assert_allclose(out[1], [-1, 0, np.sin(w), np.cos(w)], atol=1e-12)
    # midnight in Paris is Sunday 23:00 in UTC
    paris = CalendarFeatures(tz="Europe/Paris").transform(pd.DataFrame(index=[0]), times=times[2:])
    np.testing.assert_allclose(paris.to_numpy()[0], [0, 1, 0, 1], atol=1e-12)
    with pytest.raises(InputError, match="tz must be a time zone"):
        CalendarFeatures(tz="Mars/Olympus")


def test_calendar_features_are_not_drift_tested():
    rng = np.random.default_rng(3)
    n = 12_000  # stable values over eight days, the hours turning all along
    times = pd.date_range("2026-01-01", periods=n, freq="min")
    frame = pd.DataFrame({"v": rng.normal(10, 1, n)})
    det = StreamDetector(features=[WindowFeatures(), CalendarFeatures()])
    out = det.process(frame, times=times)
    assert len(det.drift_.mean_) == 2  # the input's column and the score, nothing derived
    assert not out["drift"].any()


def test_bad_entity_input_is_named():
    frame, times, who = _payments(50)
    det = StreamDetector(features=[WindowFeatures(), EntityFeatures(span=10)])
    with pytest.raises(InputError, match="EntityFeatures needs each row's entity"):
        det.process(frame)
    who = pd.Series(who, index=frame.index, dtype=object)
    who.iloc[17] = None
    with pytest.raises(InputError, match="row 17 has no entity"):
        det.process(frame, entities=who)
    assert det.n_seen_ == 0  # nothing of the refused batch was learned
    with pytest.raises(InputError, match="no EntityFeatures"):
        StreamDetector().process(frame, entities=who)
    with pytest.raises(InputError, match="these features needs the rows' times"):
        StreamDetector(features=CalendarFeatures()).process(frame)
    with pytest.raises(InputError, match="both be rows or both time spans"):
        EntityFeatures(span=10, idle="1h")
    with pytest.raises(InputError, match="span must be a number of rows"):
        EntityFeatures(span="soon")
    with pytest.raises(InputError, match="max_entities must be a whole number"):
        EntityFeatures(max_entities=0)
    with pytest.raises(InputError, match="features must be a WindowFeatures, EntityFeatures"):
        StreamDetector(features=[WindowFeatures(), "amount"])


# ------------------------------------------------------------ command line


@pytest.fixture()
def payments_csv(tmp_path):
    frame, times, who = _payments(3000, entities=30)
    who = np.where(who == "c1", "007", np.where(who == "c2", "7", who))  # text, not numbers
    table = pd.DataFrame({"ts": times.astype(str), "customer": who, **frame})
    table.loc[2500, "amount"] = 5000.0
    table.to_csv(tmp_path / "p.csv", index=False)
    return table


def test_entity_column_from_the_command_line(payments_csv, tmp_path, capsys):
    out, state = tmp_path / "o.csv", tmp_path / "s.farout"
    args = ["stream", str(tmp_path / "p.csv"), "--time-column", "ts", "--entity-column", "customer"]
    assert main([*args, "-o", str(out), "--calendar", "--save-state", str(state)]) == 0
    parts = [WindowFeatures(), EntityFeatures(span="24h", idle="7d"), CalendarFeatures()]
    times = pd.to_datetime(payments_csv["ts"])
    want = StreamDetector(features=parts).process(
        payments_csv[["amount", "items"]], times=times, entities=payments_csv["customer"]
    )
    got = pd.read_csv(out, dtype={"customer": str})
    assert list(got.columns[:4]) == ["ts", "customer", "amount", "items"]
    assert (got["customer"] == payments_csv["customer"]).all()
    np.testing.assert_array_equal(got["anomaly_score"], want["anomaly_score"])
    assert got["is_anomaly"].iloc[2500]
    # "007" and "7" are two customers
    stack = FeatureStack.of(StreamDetector.load(state).features)
    assert stack.parts[1].n_entities_ == payments_csv["customer"].nunique()
    capsys.readouterr()
    # a checkpoint needs the entity column to resume
    assert main(["stream", str(tmp_path / "p.csv"), "-m", str(state), "--time-column", "ts"]) == 2
    assert "need --entity-column" in capsys.readouterr().err


def test_rows_as_the_entity_clock_without_a_time_column(payments_csv, tmp_path):
    out = tmp_path / "o.csv"
    args = ["stream", str(tmp_path / "p.csv"), "-o", str(out), "--exclude", "ts"]
    args += ["--entity-column", "customer", "--entity-span", "200", "--max-entities", "10"]
    assert main(args) == 0
    parts = [WindowFeatures(), EntityFeatures(span=200, idle=100_000, max_entities=10)]
    want = StreamDetector(features=parts).process(
        payments_csv[["amount", "items"]], entities=payments_csv["customer"]
    )
    np.testing.assert_array_equal(pd.read_csv(out)["anomaly_score"], want["anomaly_score"])


def test_a_row_without_an_entity_stops_the_stream_and_loses_nothing(payments_csv, tmp_path, capsys):
    payments_csv.loc[1234, "customer"] = ""
    payments_csv.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "o.csv"
    code = main(
        ["stream", str(tmp_path / "bad.csv"), "-o", str(out), "--time-column", "ts"]
        + ["--entity-column", "customer"]
    )
    assert code == 2
    assert "row 1234: --entity-column 'customer' is empty" in capsys.readouterr().err
    assert len(pd.read_csv(out)) == 1234


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--exclude", "ts,customer", "--calendar"], "--calendar needs --time-column"),
        (
            ["--exclude", "ts", "--entity-column", "customer", "--entity-span", "24h"],
            "it needs --time-column",
        ),
        (
            ["--exclude", "ts,customer", "--max-entities", "5"],
            "--max-entities needs --entity-column",
        ),
    ],
)
def test_entity_options_that_cannot_work_are_refused(
    payments_csv, tmp_path, capsys, extra, message
):
    assert main(["stream", str(tmp_path / "p.csv"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_the_idle_default_follows_the_span_s_kind(payments_csv, tmp_path):
    state = tmp_path / "s.farout"
    args = ["stream", str(tmp_path / "p.csv"), "-o", str(tmp_path / "o.csv"), "--time-column"]
    args += [
        "ts",
        "--entity-column",
        "customer",
        "--entity-span",
        "500",
        "--save-state",
        str(state),
    ]
    assert main(args) == 0
    entity = StreamDetector.load(state).features[1]
    assert (entity.span, entity.idle, entity.max_entities) == (500, 100_000, 100_000)
