"""What webhook alerts cost scoring: 1-row requests, every row flagged and
each its own alert (no entity to group by: the worst case), to ``farout
serve`` without alerts, with alerts to a receiver that answers, to one that
hangs past the timeout, and to an address that refuses connections, all in
the same run. Reports requests/s and p50/p99 (wrk, as benchmarks/service.py
does; the median of ``--repeats`` runs), the server's CPU time per
request (steadier than requests/s on a shared machine) and what the alert
worker did.

    nice -n 10 python benchmarks/alerts.py --seconds 10 --repeats 3
"""

import argparse
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from servers import Server, free_port, make_key  # noqa: E402
from service import wrk  # noqa: E402

from farout.client import Client  # noqa: E402
from farout.datasets import make_transactions  # noqa: E402
from farout.demo import LABEL_COLUMNS, demo_detector  # noqa: E402

CONFIG = """
base_url = "http://127.0.0.1:8000"
window = "1s"
settle = "500ms"
poll = "200ms"
[storm]
min_rows = 100000000
[retry]
timeout = "2s"
backoff = "1s"
max_backoff = "10s"
[[destinations]]
name = "hook"
url = "{url}"
"""


class Receiver:
    """Answers 200, or with ``hang`` sleeps 30 s first."""

    def __init__(self, hang=False):
        self.count = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.count += 1
                if hang:
                    time.sleep(30)
                try:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the service gave up waiting, as it should
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def cpu_seconds(pid):
    """User and system CPU of a process and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def statuses(db_url):
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as c:
            return dict(
                c.execute(sa.text("SELECT status, count(*) FROM alerts GROUP BY status")).all()
            )
    finally:
        engine.dispose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    data = make_transactions(20_000, random_state=0).drop(columns=LABEL_COLUMNS)
    row = json.loads(data.iloc[:1].to_json(orient="records"))[0]
    row["amount"] = 2450.0  # flagged, as in the README's demo
    work = Path(tempfile.mkdtemp(prefix="farout-bench-alerts-"))
    model = work / "transactions.farout"
    demo_detector(random_state=0).fit(data).save(model)

    live, hanging = Receiver(), Receiver(hang=True)
    cases = {
        "no alerts": None,
        "receiver answers": live.url,
        "receiver hangs (timeout 2 s)": hanging.url,
        "connection refused": f"http://127.0.0.1:{free_port()}/hook",
    }
    order = list(cases) * args.repeats  # interleaved, so the machine's load falls on each alike
    servers, results = {}, {name: [] for name in cases}
    try:
        for name, url in cases.items():
            registry = work / f"r{len(servers)}"
            registry.mkdir()
            extra = ["-q"]
            if url is not None:
                (registry / "alerts.toml").write_text(CONFIG.replace("{url}", url))
                extra += ["--alerts", str(registry / "alerts.toml")]
            key = make_key(registry)
            server = Server(registry, None, *extra).start()
            Client(server.url, key).upload(model)
            servers[name] = (server, key, registry)
        for name in order:
            server, key, _ = servers[name]
            before = cpu_seconds(server.process.pid)
            run = wrk(
                server.url + "/v1/score",
                key,
                {"rows": [row]},
                args.seconds,
                args.connections,
                args.threads,
            )
            used = cpu_seconds(server.process.pid) - before
            run["cpu_ms"] = used * 1000 / max(run["requests"], 1)
            results[name].append(run)
        time.sleep(3)
        print(
            f"{args.connections} connections, {args.seconds} s per run, median of {args.repeats} "
            "runs (interleaved); 1-row requests, every row flagged, each its own alert\n"
        )
        print(
            "| alerts | requests/s | of no alerts | p50 ms | p99 ms | server CPU ms/request "
            "| failed | deliveries recorded |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        base = statistics.median(r["rps"] for r in results["no alerts"])
        for name, runs in results.items():
            rps = statistics.median(r["rps"] for r in runs)
            p50 = statistics.median(r["p50"] for r in runs)
            p99 = statistics.median(r["p99"] for r in runs)
            failed = sum(r["failed"] for r in runs)
            cpu = statistics.median(r["cpu_ms"] for r in runs)
            registry = servers[name][2]
            found = statuses(f"sqlite:///{registry / 'farout.db'}") if cases[name] else {}
            shown = ", ".join(f"{k} {v:,}" for k, v in sorted(found.items())) or "-"
            print(
                f"| {name} | {rps:,.0f} | {rps / base:.0%} | {p50:.2f} | {p99:.2f} | {cpu:.2f} | "
                f"{failed} | {shown} |"
            )
    finally:
        for server, *_ in servers.values():
            server.stop()
        live.close()
        hanging.close()


if __name__ == "__main__":
    main()
