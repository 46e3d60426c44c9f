"""Webhook alerts, over real HTTP both ways: ``farout serve --alerts`` in a
subprocess posts to a real receiver on 127.0.0.1 (``http.server`` in a
thread), on SQLite and PostgreSQL; and the pure rules (storms, grouping,
the Slack message) on hand-worked data."""

import http.server
import json
import threading
import time
import urllib.request

import numpy as np
import pytest
from servers import Server, farout, free_port, make_key
from servers import payments as _frame

import farout as fo
from farout.client import APIError, Client
from farout.service.alerts.config import AlertConfigError, load_alerts, parse_duration
from farout.service.alerts.grouping import Flag, at_least, group_flags
from farout.service.alerts.messages import alert_message, storm_message
from farout.service.alerts.worker import backoff
from farout.storms import StormRule, storm_windows
from farout.thresholds import Percentile

# ------------------------------------------------------------ the rules


def test_storm_rule_starts_and_ends_on_the_multiple_of_the_baseline():
    rule = StormRule(multiple=5, min_rows=20)
    assert rule.threshold(0.02) == pytest.approx(0.1)
    assert not rule.is_storm(100, 10, 0.02)  # 10% is not above 10%
    assert rule.is_storm(100, 11, 0.02)
    assert not rule.is_storm(19, 19, 0.02)  # too few rows to say
    assert rule.threshold(0.0) == pytest.approx(5e-3)  # a baseline of nothing is floored
    windows = [(0, 100, 3), (60, 100, 30), (120, 200, 90), (180, 100, 10), (240, 50, 40)]
    found = storm_windows(windows, 0.02, rule)
    assert [w.storm for w in found] == [False, True, True, False, True]
    assert [w.event for w in found] == [None, "start", None, "end", "start"]
    assert found[2].rate == pytest.approx(0.45)
    # a storm already on when the windows begin: only its end shows
    assert [w.event for w in storm_windows([(0, 100, 50), (60, 100, 1)], 0.02, rule, True)] == [
        None,
        "end",
    ]


def _flag(seq, at, entity, severity, score, version=1):
    return Flag(seq, f"p{seq}", at, "m", version, severity, f"reason {seq}", score, entity)


def test_grouping_one_alert_per_entity_per_window_with_its_count():
    tiers = {("m", 1): ["low", "high"]}
    flags = [
        _flag(1, 100.0, "A", "low", 5.0),
        _flag(2, 101.0, "A", "high", 9.0),
        _flag(3, 102.0, "B", None, 4.0),  # below every tier
        _flag(4, 119.0, "A", "low", 6.0),
        _flag(5, 121.0, "A", "low", 7.0),  # the next window
        _flag(6, 103.0, None, "high", 8.0),  # no entity: an alert alone
        _flag(7, 104.0, None, "low", 3.0),
    ]
    groups = group_flags(flags, 20.0, lambda n, v: tiers[(n, v)])
    shown = [(g.entity, g.window_start, g.count, g.severity, g.prediction_id) for g in groups]
    assert shown == [
        ("A", 100.0, 3, "high", "p2"),
        ("B", 100.0, 1, None, "p3"),
        ("A", 120.0, 1, "low", "p5"),
        (None, 100.0, 1, "high", "p6"),
        (None, 100.0, 1, "low", "p7"),
    ]
    high = at_least(flags, "high", lambda n, v: tiers[(n, v)])
    assert [f.seq for f in high] == [2, 6]
    # a model without that tier passes all its flags: a flood beats silence
    assert len(at_least(flags, "critical", lambda n, v: tiers[(n, v)])) == len(flags)


def check_slack(message):
    """The rules a Slack incoming webhook holds a message to (Block Kit's
    limits); a message that breaks one is refused with invalid_blocks."""
    assert set(message) <= {"text", "blocks"} and isinstance(message["text"], str)
    assert message["text"].strip() and len(message["text"]) <= 3000
    blocks = message["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        assert kind in ("header", "section", "context", "divider")
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in ("mrkdwn", "plain_text")
                assert 1 <= len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert field["type"] in ("mrkdwn", "plain_text") and len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
    return message


def test_messages_are_slack_shaped_escaped_and_cut_to_its_limits():
    (group,) = group_flags(
        [_flag(1, 0.0, "<A&B>", "high", 9.0), _flag(2, 1.0, "<A&B>", "low", 2.0)],
        60.0,
        lambda n, v: ["low", "high"],
    )
    group = type(group)(**{**group.__dict__, "reason": "amount <b> & " + "x" * 5000})
    message = check_slack(alert_message(group, "https://farout.example.com", "account"))
    assert "[high] m v1: 2 flagged rows for account <A&B>" in message["text"]
    body = json.dumps(message["blocks"])
    assert "&lt;A&amp;B&gt;" in body and "<A&B>" not in body  # mrkdwn's reserved characters
    assert "<https://farout.example.com/v1/predictions/p1|" in body
    storm = check_slack(storm_message("m", 0.0, 60.0, 500, 250, 0.01, 10, "http://h"))
    assert storm["text"].startswith("[storm] m: 250 of 500 rows flagged (50.0%) in 1m")
    assert "50x the baseline 1.00%" in storm["text"]


def test_durations_and_backoff():
    assert [parse_duration(v) for v in ("500ms", "30s", "1m", "2h", "1d", 3, 0.5)] == [
        0.5,
        30,
        60,
        7200,
        86400,
        3,
        0.5,
    ]
    for bad in ("soon", "0s", -1, True, "400d"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert [backoff(n, 2.0, 10.0) for n in range(1, 6)] == [2, 4, 8, 10, 10]


def test_bad_alert_files_name_the_field(tmp_path):
    def bad(name, text):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(AlertConfigError) as caught:
            load_alerts(path)
        return str(caught.value)

    assert "destinations: missing; list at least one [[destinations]]" in bad(
        "none.toml", 'entity = "host"\n'
    )
    found = bad(
        "two.toml",
        '[[destinations]]\nname = "a"\nurl = "ftp://x"\nrate_limit = "ten/1h"\n'
        '[[destinations]]\nname = "b"\nurll = "http://h"\n'
        '[[destinations]]\nname = "c"\nurl = "http://h"\nrate_limit = {count = 0, period = "2x"}\n',
    )
    assert "destinations[0].url: 'ftp://x' must be an http:// or https://" in found
    assert "destinations[0].rate_limit: 'ten/1h' is not a rate such as 10/1h" in found
    assert "destinations[1].url: missing" in found
    assert "destinations[1].urll: unknown field; it takes name, url, min_severity" in found
    assert "destinations[2].rate_limit.count: Input should be greater than or equal to 1" in found
    assert "destinations[2].rate_limit.period: '2x' is not a duration" in found
    found = bad(
        "d.toml",
        '[[destinations]]\nname = "a"\nurl = "http://h"\n[[destinations]]\nname = "a"\nurl = "http://i"\n',
    )
    assert "destination names must differ; ['a']" in found
    assert "storm.multiple: Input should be greater than 1" in bad(
        "s.toml", '[storm]\nmultiple = 1\n[[destinations]]\nname = "a"\nurl = "http://h"\n'
    )
    assert "window: 'a while' is not a duration" in bad(
        "w.json", '{"window": "a while", "destinations": [{"name": "a", "url": "http://h"}]}'
    )
    assert "is not valid TOML" in bad("t.toml", "destinations = [\n")
    assert "is not valid JSON" in bad("j.json", "{")
    with pytest.raises(AlertConfigError, match="cannot read the alerts file"):
        load_alerts(tmp_path / "missing.toml")
    # the command line refuses to start with it, naming the field (exit code 2)
    (tmp_path / "bad.toml").write_text(
        '[[destinations]]\nname = "a"\nurl = "http://h"\nmin_severity = ""\n'
    )
    done = farout(
        "serve",
        "--registry",
        str(tmp_path / "r"),
        "--alerts",
        str(tmp_path / "bad.toml"),
        check=False,
    )
    assert done.returncode == 2
    assert "destinations[0].min_severity: String should have at least 1 character" in done.stderr


# ------------------------------------------------------- the receiver


class Receiver:
    """A webhook receiver on 127.0.0.1: each path answers the statuses of
    its script in turn (the last one for ever after), sleeping ``hang``
    seconds first on a path that should time out; every request is kept."""

    def __init__(self, scripts=None, hang=()):
        self.scripts = {k: list(v) for k, v in (scripts or {}).items()}
        self.hang, self.got, self.lock = set(hang), [], threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    script = receiver.scripts.get(self.path, [200])
                    status = script.pop(0) if len(script) > 1 else script[0]
                    receiver.got.append(
                        {
                            "at": time.time(),
                            "path": self.path,
                            "status": status,
                            "headers": dict(self.headers),
                            "body": json.loads(body),
                        }
                    )
                if self.path in receiver.hang:
                    time.sleep(3)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok" if status == 200 else b"no_service")
                except OSError:  # the sender gave up waiting, as it should
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def at(self, path, status=None):
        with self.lock:
            return [
                g
                for g in self.got
                if g["path"] == path and (status is None or g["status"] == status)
            ]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    found = Receiver({"/flaky": [500, 500, 200], "/refuses": [400]}, hang={"/slow"})
    yield found
    found.close()


def wait_for(check, timeout=20.0, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"waited {timeout}s in vain for {check.__doc__ or check}")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    tiers = {"low": Percentile(95), "high": Percentile(99.5)}
    det = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, tiers=tiers).fit(_frame(600, 0))
    det.save(folder / "payments.farout")
    return folder / "payments.farout"


FAST = """
base_url = "https://farout.example.com"
entity = "account"
window = "1s"
settle = "200ms"
poll = "100ms"
[retry]
max_attempts = 3
backoff = "300ms"
max_backoff = "2s"
timeout = "1s"
"""


def destination(name, url, **extra):
    lines = [f'[[destinations]]\nname = "{name}"\nurl = "{url}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def start(tmp_path, model_file, config, db=None, name="s"):
    """A served model with ``config`` as its alerts file; (server, admin
    client)."""
    registry = tmp_path / f"registry-{name}"
    registry.mkdir()
    path = tmp_path / f"alerts-{name}.toml"
    path.write_text(config)
    key = make_key(registry, db)
    server = Server(registry, db, "-q", "--alerts", str(path)).start()
    client = Client(server.url, key)
    client.upload(model_file)
    return server, client


def outliers(amounts, accounts, seed=1, normal=0):
    """Rows with the given amounts (large ones are flagged) and accounts,
    then ``normal`` ordinary rows without an account."""
    rows = _frame(len(amounts) + normal, seed)
    rows.loc[: len(amounts) - 1, "amount"] = amounts
    records = rows.to_dict("records")
    for record, account in zip(records, accounts, strict=False):
        if account is not None:
            record["account"] = account
    return records


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request):
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres").new_database()


# ------------------------------------------------------------ over HTTP


def test_alerts_arrive_grouped_filtered_and_rate_limited(tmp_path, model_file, receiver, db_url):
    config = FAST + "[storm]\nmin_rows = 100000\n"  # no storm here: see the storm test
    config += destination("all", receiver.url + "/all")
    config += destination("high", receiver.url + "/high", min_severity="high")
    config += destination("limited", receiver.url + "/limited", rate_limit="2/1m")
    server, client = start(tmp_path, model_file, config, db_url)
    try:
        # 30 outliers of account A-1, 3 of B-2, one of C-3, two without an account
        amounts = np.r_[np.linspace(400, 3000, 30), [500, 900, 4000], [2500], [800, 1200]]
        accounts = ["A-1"] * 30 + ["B-2"] * 3 + ["C-3"] + [None, None]
        answer = client.score(outliers(amounts, accounts, normal=60))
        preds = answer["predictions"]
        by = {}
        for p, account in zip(preds, accounts + [None] * 60, strict=True):
            if p["is_anomaly"]:
                by.setdefault(account or p["prediction_id"], []).append(p)
        assert len(by["A-1"]) >= 25 and "C-3" in by and len(by) >= 4
        got = wait_for(lambda: len(receiver.at("/all")) >= len(by) and receiver.at("/all"))
        time.sleep(1.5)  # nothing more comes for these rows
        assert len(receiver.at("/all")) == len(by)
        for request in got:
            message = check_slack(request["body"])
            account = next(
                (a for a in ("A-1", "B-2", "C-3") if f"for account {a} " in message["text"]), None
            )
            members = (
                by[account]
                if account
                else [
                    p for p in preds if p["prediction_id"] in message["text"] + json.dumps(message)
                ]
            )
            top = max(members, key=lambda p: p["anomaly_score"])
            rank = {"high": 2, "low": 1}
            worst = max((p["severity"] for p in members), key=lambda s: rank.get(s, 0))
            assert message["text"].startswith(f"[{worst or 'flagged'}] payments v1: ")
            count = len(members)
            assert (f"{count} flagged rows" if count > 1 else "a flagged row") in message["text"]
            link = f"https://farout.example.com/v1/predictions/{top['prediction_id']}"
            assert f"<{link}|" in json.dumps(message["blocks"])
            assert top["reason"] and top["reason"].split(";")[0] in message["text"]
            assert request["headers"]["Content-Type"] == "application/json"
            assert request["headers"]["User-Agent"].startswith("farout/")
        # the link is the service's own page of that prediction
        one = client.prediction(top["prediction_id"])
        assert one["prediction_id"] == top["prediction_id"] and one["is_anomaly"]
        # min severity: only the groups with a high row, counting only those rows
        highs = {k: [p for p in v if p["severity"] == "high"] for k, v in by.items()}
        highs = {k: v for k, v in highs.items() if v}
        assert highs, "the test needs some high rows"
        wait_for(lambda: len(receiver.at("/high")) >= len(highs))
        assert len(receiver.at("/high")) == len(highs)
        for request in receiver.at("/high"):
            assert request["body"]["text"].startswith("[high] payments v1")
        a1 = [r for r in receiver.at("/high") if "account A-1" in r["body"]["text"]]
        if "A-1" in highs:
            n = len(highs["A-1"])
            assert (f"{n} flagged rows" if n > 1 else "a flagged row") in a1[0]["body"]["text"]
        # rate limit: two of them, the rest recorded as suppressed
        records = wait_for(
            lambda: (
                (r := client.alerts(destination="limited"))
                and len(r["alerts"]) == len(by)
                and r["alerts"]
            )
        )
        assert len(receiver.at("/limited")) == 2
        statuses = sorted(r["status"] for r in records)
        assert statuses == ["delivered"] * 2 + ["suppressed"] * (len(by) - 2)
        suppressed = [r for r in records if r["status"] == "suppressed"]
        assert all("rate limit of 2 per 60s" in r["last_error"] for r in suppressed)
        assert all(r["attempts"] == 0 and r["next_attempt_at"] is None for r in suppressed)
        metrics = urllib.request.urlopen(server.url + "/metrics").read().decode()
        assert f'farout_alerts_suppressed_total{{destination="limited"}} {len(by) - 2}.0' in metrics
        assert f'farout_alerts_delivered_total{{destination="all"}} {len(by)}.0' in metrics
        # the records show what was sent
        a_one = client.alerts(destination="all")["alerts"]
        (rec,) = [r for r in a_one if r["entity"] == "A-1"]
        assert rec["count"] == len(by["A-1"]) and rec["model_version"] == 1
        assert rec["status"] == "delivered" and rec["attempts"] == 1 and rec["kind"] == "alert"
        with pytest.raises(APIError) as caught:
            client.alerts(status="lost")
        assert caught.value.status == 422 and caught.value.fields == {"field": "status"}
        with pytest.raises(APIError) as caught:
            Client(server.url).alerts()
        assert caught.value.status == 401
    finally:
        server.stop()


def _records(client, **query):
    return client.alerts(**query)


def _metric(server, line):
    text = urllib.request.urlopen(server.url + "/metrics").read().decode()
    return line in text.splitlines()


def test_a_storm_gives_one_meta_alert_and_delivery_resumes_after_it(tmp_path, model_file, receiver):
    config = FAST + "[storm]\nmultiple = 5\nbaseline = 0.02\nmin_rows = 20\n"
    config += destination("all", receiver.url + "/all")
    server, client = start(tmp_path, model_file, config)
    try:
        flagged = 0
        for seed in (1, 2):  # two windows of a flood: half the rows flagged, each its own account
            answer = client.score(
                outliers(
                    np.linspace(300, 5000, 100),
                    [f"acct-{seed}-{i}" for i in range(100)],
                    seed,
                    normal=100,
                )
            )
            flagged += sum(p["is_anomaly"] for p in answer["predictions"])
            time.sleep(1.1)
        (storm,) = wait_for(lambda: receiver.at("/all"))
        message = check_slack(storm["body"])
        assert message["text"].startswith("[storm] payments: ")
        assert (
            "the baseline 2.00%" in message["text"]
            and "5x the baseline or below" in message["text"]
        )
        # a quiet window ends it: its one alert goes out as usual
        answer = client.score(outliers([4000.0], ["quiet-1"], 3, normal=60))
        quiet = [p for p in answer["predictions"] if p["is_anomaly"]]
        wait_for(lambda: len(receiver.at("/all")) >= 1 + len(quiet))
        time.sleep(1.5)
        got = receiver.at("/all")
        assert len(got) == 1 + len(quiet)  # one meta-alert instead of ~200 alerts
        assert any("for account quiet-1" in g["body"]["text"] for g in got[1:])
        found = _records(client)
        (storm_record,) = found["storms"]
        assert storm_record["ended_at"] is not None and storm_record["flagged"] == flagged
        assert storm_record["baseline"] == pytest.approx(0.02)
        assert [r["kind"] for r in found["alerts"]].count("storm") == 1
        assert _metric(server, f"farout_alert_storm_rows_total {float(flagged)}")
        assert _metric(server, "farout_alert_storm_active 0.0")
    finally:
        server.stop()


def test_retries_back_off_failures_are_recorded_and_scoring_never_waits(
    tmp_path, model_file, receiver
):
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    # a request that waited on a delivery would take the 2.5 s timeout at least
    config = FAST.replace('timeout = "1s"', 'timeout = "2500ms"')
    config += destination("flaky", receiver.url + "/flaky")
    config += destination("down", dead) + destination("refuses", receiver.url + "/refuses")
    config += destination("slow", receiver.url + "/slow")
    server, client = start(tmp_path, model_file, config)
    try:
        answer = client.score(outliers([5000.0], ["A-1"]))
        assert answer["predictions"][0]["is_anomaly"]
        # while the deliveries fail and time out, scoring answers at its usual pace
        quiet_row = {"amount": 20.0, "hour": 12.0, "kind": "card"}
        latencies = []
        seen_retrying = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            began = time.perf_counter()
            assert not client.score([quiet_row])["predictions"][0]["is_anomaly"]
            latencies.append(time.perf_counter() - began)
            flaky = _records(client, destination="flaky")["alerts"]
            if flaky and flaky[0]["status"] == "retrying":
                seen_retrying = seen_retrying or flaky[0]
            states = {r["destination"]: r["status"] for r in _records(client)["alerts"]}
            if len(states) == 4 and all(s in ("delivered", "failed") for s in states.values()):
                break
            time.sleep(0.05)
        assert states == {
            "flaky": "delivered",
            "down": "failed",
            "refuses": "failed",
            "slow": "failed",
        }
        assert max(latencies) < 2.0 and np.median(latencies) < 0.25, latencies
        # the flaky receiver: 500, 500, then taken, each wait longer than the one before
        times = [g["at"] for g in receiver.at("/flaky")]
        assert [g["status"] for g in receiver.at("/flaky")] == [500, 500, 200]
        assert times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.6
        assert seen_retrying is not None and seen_retrying["attempts"] >= 1
        assert seen_retrying["last_error"] == "HTTP 500: no_service"
        assert seen_retrying["next_attempt_at"] is not None
        ids = {g["headers"]["X-Farout-Alert-Id"] for g in receiver.at("/flaky")}
        assert len(ids) == 1  # the same delivery, tried again
        records = {r["destination"]: r for r in _records(client)["alerts"]}
        assert records["flaky"]["attempts"] == 3 and records["flaky"]["delivered_at"]
        assert records["flaky"]["last_error"] == "HTTP 500: no_service"  # kept as history
        down = records["down"]
        assert down["attempts"] == 3 and down["next_attempt_at"] is None
        assert down["last_error"].startswith("gave up after 3 attempts: ConnectError")
        assert records["refuses"]["attempts"] == 1  # a 400 will not mend by retrying
        assert records["refuses"]["last_error"].startswith("refused: HTTP 400")
        assert records["slow"]["attempts"] == 3 and "Timeout" in records["slow"]["last_error"]
        assert len(receiver.at("/slow")) == 3
        failed = _records(client, status="failed")["alerts"]
        assert {r["destination"] for r in failed} == {"down", "refuses", "slow"}
        for name in ("down", "refuses", "slow"):
            assert _metric(server, f'farout_alerts_failed_total{{destination="{name}"}} 1.0')
        assert _metric(server, 'farout_alerts_delivered_total{destination="flaky"} 1.0')
        assert _metric(server, 'farout_alerts_retried_total{destination="flaky"} 2.0')
    finally:
        server.stop()


def test_a_restart_neither_loses_nor_repeats_a_delivery(tmp_path, model_file, receiver, db_url):
    config = FAST.replace('window = "1s"', 'window = "2s"') + destination(
        "all", receiver.url + "/all"
    )
    server, client = start(tmp_path, model_file, config, db_url)
    try:
        wait_for(lambda: time.time() % 2 < 0.2, every=0.01)  # a window has just begun
        answer = client.score(
            outliers([3000.0, 3500, 4000, 4500, 5000], [f"X{i}" for i in range(5)])
        )
        server.kill()  # kill -9 before the window closes: nothing was sent
        assert all(p["is_anomaly"] for p in answer["predictions"])
        assert receiver.at("/all") == []
        server.start()
        wait_for(lambda: len(receiver.at("/all")) >= 5)
        # and a second, orderly stop after the deliveries: none is sent again
        server.stop()
        server.start()
        client.score(outliers([3000.0, 6000.0], ["Y1", "Y2"], seed=4))
        wait_for(lambda: len(receiver.at("/all")) >= 7)
        time.sleep(2.5)
        got = receiver.at("/all")
        assert len(got) == 7
        assert len({g["headers"]["X-Farout-Alert-Id"] for g in got}) == 7
        accounts = sorted(g["body"]["text"].split("for account ")[1].split()[0] for g in got)
        assert accounts == ["X0", "X1", "X2", "X3", "X4", "Y1", "Y2"]
        records = _records(client)["alerts"]
        assert len(records) == 7 and {r["status"] for r in records} == {"delivered"}
    finally:
        server.stop()


def test_alerts_begin_at_the_log_end_and_leave_shadow_rows_out(tmp_path, model_file, receiver):
    registry = tmp_path / "registry"
    key = make_key(registry)
    server = Server(registry, None, "-q").start()
    try:  # predictions logged before alerts were enabled
        client = Client(server.url, key)
        client.upload(model_file)
        old = client.score(outliers([3000.0, 4000.0], ["OLD-1", "OLD-2"]))
        assert all(p["is_anomaly"] for p in old["predictions"])
    finally:
        server.stop()
    path = tmp_path / "alerts.toml"
    path.write_text(FAST + destination("all", receiver.url + "/all"))
    server = Server(registry, None, "-q", "--alerts", str(path)).start()
    try:
        client = Client(server.url, key)
        client.upload(model_file)  # version 2, the same model, scored in shadow
        client.set_alias("payments", "challenger", 2)
        answer = client.score(outliers([5000.0], ["NEW-1"]))
        assert answer["model"]["version"] == 1 and answer["predictions"][0]["is_anomaly"]
        assert client.predictions(shadow=True, model="payments/2")["predictions"]
        wait_for(lambda: receiver.at("/all"))
        time.sleep(1.5)
        (got,) = receiver.at("/all")  # not the old rows, not the shadow row
        assert got["body"]["text"].startswith("[high] payments v1: a flagged row for account NEW-1")
    finally:
        server.stop()
