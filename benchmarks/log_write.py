"""The CPU the service's writer spends logging a batch: ``Scorer.commit``
(the batcher's writer thread) on requests prepared by ``Scorer.prepare``,
timed alone, on SQLite and on PostgreSQL.

Wall-clock throughput (benchmarks/service.py) moves with whatever else the
machine runs; the writer thread's own CPU time (``time.thread_time``) moves
far less. On PostgreSQL the server's work is another process's, so the
wall time of the commit is reported beside it, and so is the CPU of the
throwaway cluster's processes over the commits (from /proc, in clock ticks,
so summed over all the commits and divided).

    python benchmarks/log_write.py --repeats 15

Cases: one request of 1,000 rows; a batch of 8 requests of 1 row each (what
8 connections of 1-row requests commit together); and the 1,000-row request
with a challenger scoring in shadow (twice the rows logged).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from servers import Postgres  # noqa: E402

from farout.datasets import make_transactions  # noqa: E402
from farout.demo import LABEL_COLUMNS, demo_detector  # noqa: E402
from farout.service.database import Database  # noqa: E402
from farout.service.metrics import Metrics  # noqa: E402
from farout.service.registry import Registry  # noqa: E402
from farout.service.scoring import Scorer  # noqa: E402


def _server_ticks(postgres):
    """CPU clock ticks (user + system) of the cluster's processes so far."""
    if postgres is None:
        return 0
    with open(os.path.join(postgres.data, "postmaster.pid")) as f:
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


def _time_commits(scorer, requests, repeats, postgres=None):
    cpu, wall, ticks = [], [], 0
    for i in range(repeats + 2):
        prepared = scorer.prepare([(rows, spec, time.perf_counter()) for rows, spec in requests])
        t0 = _server_ticks(postgres)
        c0, w0 = time.thread_time(), time.perf_counter()
        out = scorer.commit(prepared)
        c1, w1 = time.thread_time(), time.perf_counter()
        t1 = _server_ticks(postgres)
        assert all(isinstance(a, dict) for a in out), out
        if i >= 2:  # two warm-ups: statement caches, pages, the pool
            cpu.append((c1 - c0) * 1000)
            wall.append((w1 - w0) * 1000)
            ticks += t1 - t0
    server = ticks * 1000 / os.sysconf("SC_CLK_TCK") / repeats
    return statistics.median(cpu), statistics.median(wall), server


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    data = make_transactions(20_000, random_state=0).drop(columns=LABEL_COLUMNS)
    rows = data.iloc[:1000].to_dict("records")
    work = Path(tempfile.mkdtemp(prefix="farout-bench-logwrite-"))
    model = work / "transactions.farout"
    demo_detector(random_state=0).fit(data).save(model)
    cases = {
        "1 request x 1,000 rows": [(rows, None)],
        "8 requests x 1 row": [([r], None) for r in rows[:8]],
    }
    print(f"median of {args.repeats} commits (server CPU: their mean)\n")
    print("| database | batch | writer CPU ms | wall ms | server CPU ms |")
    print("|---|---|---:|---:|---:|")
    for backend in args.backends.split(","):
        postgres = Postgres() if backend == "postgresql" else None
        try:
            url = postgres.new_database() if postgres else f"sqlite:///{work / backend}.db"
            db = Database(url)
            db.upgrade()
            registry = Registry(work / f"registry-{backend}", db)
            registry.add(model, "transactions", actor="bench")
            scorer = Scorer(registry, db, Metrics())
            for name, requests in [*cases.items(), ("1 x 1,000 rows + shadow", None)]:
                if requests is None:  # the same request, with a challenger
                    registry.add(model, "transactions", actor="bench")
                    registry.set_alias("transactions", "challenger", 2, actor="bench")
                    requests = cases["1 request x 1,000 rows"]
                cpu, wall, server = _time_commits(scorer, requests, args.repeats, postgres)
                shown = f"{server:.1f}" if postgres else "-"
                print(f"| {backend} | {name} | {cpu:.2f} | {wall:.2f} | {shown} |", flush=True)
            db.close()
        finally:
            if postgres is not None:
                postgres.close()


if __name__ == "__main__":
    main()
