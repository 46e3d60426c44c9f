"""A/B: the same wrk load on two builds of ``farout serve``, their runs
interleaved, with each server process's CPU time per request (steadier than
requests/s on a shared machine).

    git worktree add /tmp/before <commit>
    python benchmarks/service_ab.py before=/tmp/before/src,after=src 8 3 [1,1000]

Arguments: NAME=SRC,... (each build's source folder, put on PYTHONPATH),
seconds per run, rounds, and the rows per request (default 1,1000);
CONN=8 sets wrk's connections; DB=postgresql gives each build its own
database in one throwaway PostgreSQL cluster (tests/servers.py) instead of
its SQLite file.
"""
import json, subprocess, sys, tempfile, time, os, re, statistics
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests")); sys.path.insert(0, str(HERE))
from servers import Postgres, free_port
from service import wrk
from farout.datasets import make_transactions
from farout.demo import LABEL_COLUMNS, demo_detector
builds = dict(a.split("=") for a in sys.argv[1].split(","))  # name=src,...
seconds, rounds = int(sys.argv[2]), int(sys.argv[3])
sizes = [int(x) for x in sys.argv[4].split(",")] if len(sys.argv) > 4 else [1, 1000]
work = Path(tempfile.mkdtemp())
data = make_transactions(20_000, random_state=0).drop(columns=LABEL_COLUMNS)
rows = json.loads(data.iloc[:1000].to_json(orient="records"))
demo_detector(random_state=0).fit(data).save(work / "t.farout")
py = sys.executable
servers = {}
CONN = int(os.environ.get("CONN", "8"))
postgres = Postgres() if os.environ.get("DB") == "postgresql" else None
def cputime(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
try:
    for name, src in builds.items():
        env = {**os.environ, "PYTHONPATH": src}
        reg = work / name
        db = ["--db", postgres.new_database()] if postgres else []
        key = subprocess.run([py, "-m", "farout", "keys", "create", "--scope", "admin", "--registry", str(reg), *db], env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        port = free_port()
        p = subprocess.Popen([py, "-m", "farout", "serve", "--registry", str(reg), "--port", str(port), "-q", *db], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers[name] = (p, port, key)
    import urllib.request
    for name, (p, port, key) in servers.items():
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1); break
            except OSError:
                time.sleep(0.2)
    for name, (p, port, key) in servers.items():
        subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {key}", "-F", f"file=@{work/'t.farout'}", f"http://127.0.0.1:{port}/v1/models"], check=True, capture_output=True)
    res = {}
    for n in sizes:
        for r in range(rounds):
            for name, (p, port, key) in servers.items():
                c0 = cputime(p.pid)
                out = wrk(f"http://127.0.0.1:{port}/v1/score", key, {"rows": rows[:n]}, seconds, CONN, 2)
                out["cpu_ms"] = (cputime(p.pid) - c0) * 1e3 / max(out["requests"], 1)
                res.setdefault((name, n), []).append(out)
    for (name, n), runs in res.items():
        rps = [x["rps"] for x in runs]
        print(f"{name:8s} rows={n:5d} cpu/request {statistics.median(x['cpu_ms'] for x in runs):.3f} ms rps median {statistics.median(rps):8.1f} rows/s {statistics.median(rps)*n:9.0f} p99 {statistics.median(x['p99'] for x in runs):7.2f} ms  runs {[round(x) for x in rps]} failed {sum(x['failed'] for x in runs)}")
finally:
    for p, *_ in servers.values():
        p.terminate(); p.wait()
    if postgres is not None:
        postgres.close()
