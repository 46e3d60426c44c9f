"""Throughput and latency of the scoring service, against the ceiling of a
bare FastAPI endpoint served the same way, in the same run.

For 1-row and 1,000-row requests on SQLite and on PostgreSQL it drives
``farout serve`` with wrk (Debian's ``wrk``: a C load generator, so the
client does not steal the server's CPU as a Python one would) and reports
requests/s, rows/s and the p50/p99 latency, the median of ``--repeats``
runs. After every run it checks that the log holds every row answered.

    python benchmarks/service.py --seconds 10 --repeats 3

PostgreSQL runs in a throwaway cluster (tests/servers.py), as in the tests.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from servers import Postgres, Server, free_port, make_key  # noqa: E402

from farout.client import Client  # noqa: E402
from farout.datasets import make_transactions  # noqa: E402
from farout.demo import LABEL_COLUMNS, demo_detector  # noqa: E402

BARE = """
import uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.post("/bare")
def bare():
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = io.open("{body}"):read("*a")
"""


def _ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url, key, body, seconds, connections, threads):
    with tempfile.TemporaryDirectory() as tmp:
        body_path, script = Path(tmp) / "body.json", Path(tmp) / "post.lua"
        body_path.write_text(json.dumps(body))
        script.write_text(LUA.replace("{key}", key).replace("{body}", str(body_path)))
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    done = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "requests": done,
        "failed": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def logged_rows(db_url):
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as c:
            return c.execute(sa.text("SELECT count(*) FROM predictions")).scalar()
    finally:
        engine.dispose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    data = make_transactions(20_000, random_state=0).drop(columns=LABEL_COLUMNS)
    rows = json.loads(data.iloc[:1000].to_json(orient="records"))
    work = Path(tempfile.mkdtemp(prefix="farout-bench-service-"))
    model = work / "transactions.farout"
    demo_detector(random_state=0).fit(data).save(model)
    results = {}

    port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE.replace("{port}", str(port))])
    try:
        time.sleep(3)
        runs = [
            wrk(f"http://127.0.0.1:{port}/bare", "x", {"rows": rows[:1]}, args.seconds, args.connections, args.threads)
            for _ in range(args.repeats)
        ]
        results["bare"] = runs
    finally:
        bare.terminate()
        bare.wait()

    postgres = None
    for backend in args.backends.split(","):
        registry = work / backend
        if backend == "postgresql":
            postgres = Postgres()
            db = postgres.new_database()
        else:
            db = None
        db_url = db or f"sqlite:///{registry / 'farout.db'}"
        key = make_key(registry, db)
        server = Server(registry, db, "-q").start()
        try:
            Client(server.url, key).upload(model)
            answered = 0
            for n in (1, 1000):
                runs = []
                for _ in range(args.repeats):
                    run = wrk(
                        server.url + "/v1/score", key, {"rows": rows[:n]}, args.seconds,
                        args.connections, args.threads,
                    )
                    answered += (run["requests"] - run["failed"]) * n
                    in_log = logged_rows(db_url)
                    run["log_complete"] = in_log >= answered
                    runs.append(run)
                results[f"{backend} {n}"] = runs
        finally:
            server.stop()
            if postgres is not None:
                postgres.close()
                postgres = None

    def median(runs, key):
        return statistics.median(r[key] for r in runs)

    ceiling = median(results["bare"], "rps")
    print(f"{args.connections} connections, {args.seconds} s per run, median of {args.repeats} runs; "
          f"bare FastAPI endpoint: {ceiling:,.0f} requests/s, p50 {median(results['bare'], 'p50'):.2f} ms, "
          f"p99 {median(results['bare'], 'p99'):.2f} ms\n")
    print("| database | rows/request | requests/s | of bare | rows/s | p50 ms | p99 ms | failed | log complete |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, runs in results.items():
        if name == "bare":
            continue
        backend, n = name.split()
        rps = median(runs, "rps")
        print(
            f"| {backend} | {int(n):,} | {rps:,.0f} | {rps / ceiling:.0%} | {rps * int(n):,.0f} | "
            f"{median(runs, 'p50'):.2f} | {median(runs, 'p99'):.2f} | {sum(r['failed'] for r in runs)} | "
            f"{all(r['log_complete'] for r in runs)} |"
        )


if __name__ == "__main__":
    main()
