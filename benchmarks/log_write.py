"""The CPU the service's writer spends logging a batch: ``Scorer.commit``
(what the batcher's writer thread runs) on requests ``Scorer.prepare``
made, timed alone, on SQLite and on PostgreSQL, for one build or several
side by side.

Wall-clock throughput (benchmarks/service.py) moves with whatever else the
machine runs; the writer thread's own CPU time (``time.thread_time``) moves
less, and comparing builds commit by commit, alternating, exposes them to
the same interference. On PostgreSQL the server's work is other processes':
the wall time of the commit is reported beside it, and the CPU of the
throwaway cluster's processes over the commits (from /proc, in clock ticks,
so summed over all the commits and divided).

    python benchmarks/log_write.py --repeats 15
    git archive main src | tar -x -C /tmp/before
    python benchmarks/log_write.py --builds before=/tmp/before/src,after=src --repeats 50

Each build runs in its own process (``--worker``, with its source folder on
PYTHONPATH) against its own database. Cases: one request of 1,000 rows; one of
1 row; 8 requests of 1 row each (what 8 connections of 1-row requests commit
together); the 1,000-row request with a challenger scoring it in shadow
(twice the rows logged).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

CASES = (
    "1 request x 1,000 rows",
    "1 request x 1 row",
    "8 requests x 1 row",
    "1 x 1,000 rows + shadow",
)


def _server_ticks(pgdata):
    """CPU clock ticks (user + system) of the cluster's processes so far."""
    if pgdata is None:
        return 0
    with open(os.path.join(pgdata, "postmaster.pid")) as f:
        top = int(f.readline())
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) == top or int(fields[1]) == top:  # fields[1]: the parent
            total += int(fields[11]) + int(fields[12])
    return total


def worker():
    """One build: set up on the first line read, then one timed commit per
    line, answered with a JSON line."""
    from farout.datasets import make_transactions
    from farout.demo import LABEL_COLUMNS
    from farout.service.database import Database
    from farout.service.metrics import Metrics
    from farout.service.registry import Registry
    from farout.service.scoring import Scorer

    setup = json.loads(sys.stdin.readline())
    data = make_transactions(20_000, random_state=0).drop(columns=LABEL_COLUMNS)
    rows = data.iloc[:1000].to_dict("records")
    requests = {
        CASES[0]: [(rows, None)],
        CASES[1]: [(rows[:1], None)],
        CASES[2]: [([r], None) for r in rows[:8]],
        CASES[3]: [(rows, None)],
    }
    db = Database(setup["url"])
    db.upgrade()
    registry = Registry(setup["registry"], db)
    registry.add(setup["model"], "transactions", actor="bench")
    scorer = Scorer(registry, db, Metrics())
    print("{}", flush=True)
    shadowed = False
    for line in sys.stdin:
        case = json.loads(line)
        if case == CASES[-1] and not shadowed:  # the last case: a challenger from now on
            registry.add(setup["model"], "transactions", actor="bench")
            registry.set_alias("transactions", "challenger", 2, actor="bench")
            shadowed = True
        prepared = scorer.prepare([(r, spec, time.perf_counter()) for r, spec in requests[case]])
        t0 = _server_ticks(setup["pgdata"])
        c0, w0 = time.thread_time(), time.perf_counter()
        out = scorer.commit(prepared)
        c1, w1 = time.thread_time(), time.perf_counter()
        t1 = _server_ticks(setup["pgdata"])
        assert all(isinstance(a, dict) for a in out), out
        print(json.dumps([(c1 - c0) * 1000, (w1 - w0) * 1000, t1 - t0]), flush=True)
    db.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--builds", help="NAME=SRC,...: source folders to compare (default: this one)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()

    from servers import Postgres

    from farout.datasets import make_transactions
    from farout.demo import LABEL_COLUMNS, demo_detector

    builds = dict(b.split("=", 1) for b in args.builds.split(",")) if args.builds else {"": None}
    work = Path(tempfile.mkdtemp(prefix="farout-bench-logwrite-"))
    model = work / "transactions.farout"
    data = make_transactions(20_000, random_state=0).drop(columns=LABEL_COLUMNS)
    demo_detector(random_state=0).fit(data).save(model)
    tick = os.sysconf("SC_CLK_TCK")
    print(
        f"median of {args.repeats} commits, builds alternating commit by commit "
        "(server CPU: the mean)\n"
    )
    print("| database | batch | build | writer CPU ms | wall ms | server CPU ms |")
    print("|---|---|---|---:|---:|---:|")
    for backend in args.backends.split(","):
        postgres = Postgres() if backend == "postgresql" else None
        workers = {}
        try:
            for name, src in builds.items():
                env = dict(os.environ)
                if src is not None:
                    env["PYTHONPATH"] = str(Path(src).resolve())
                url = postgres.new_database() if postgres else f"sqlite:///{work}/{name}.db"
                process = subprocess.Popen(
                    [sys.executable, __file__, "--worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                )
                setup = {
                    "url": url,
                    "registry": str(work / f"registry-{backend}-{name}"),
                    "model": str(model),
                    "pgdata": postgres.data if postgres else None,
                }
                process.stdin.write(json.dumps(setup) + "\n")
                process.stdin.flush()
                process.stdout.readline()
                workers[name] = process
            for case in CASES:
                runs = {name: [] for name in workers}
                for i in range(args.repeats + 2):
                    for name, process in workers.items():
                        process.stdin.write(json.dumps(case) + "\n")
                        process.stdin.flush()
                        measured = json.loads(process.stdout.readline())
                        if i >= 2:  # two warm-ups: statement caches, pages, the pool
                            runs[name].append(measured)
                for name, got in runs.items():
                    cpu = statistics.median(g[0] for g in got)
                    wall = statistics.median(g[1] for g in got)
                    server = f"{sum(g[2] for g in got) * 1000 / tick / len(got):.1f}"
                    print(
                        f"| {backend} | {case} | {name} | {cpu:.2f} | {wall:.2f} | "
                        f"{server if postgres else '-'} |",
                        flush=True,
                    )
        finally:
            for process in workers.values():
                process.stdin.close()
                process.wait(30)
            if postgres is not None:
                postgres.close()


if __name__ == "__main__":
    main()
