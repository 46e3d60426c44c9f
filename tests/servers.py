"""Real servers for the service tests: a throwaway PostgreSQL cluster and
``farout serve`` in a subprocess on 127.0.0.1, each stopped by its PID.

PostgreSQL comes from the machine (Debian's ``postgresql``, which .ci/run
installs). Without it the PostgreSQL tests skip, unless
``FAROUT_REQUIRE_POSTGRES=1`` (set by .ci/run) makes that a failure.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return os.path.dirname(found[-1])
    pg_ctl = shutil.which("pg_ctl")
    return os.path.dirname(pg_ctl) if pg_ctl else None


class Postgres:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1.
    As root it runs as the ``postgres`` user, since PostgreSQL refuses root."""

    def __init__(self):
        self.bin = _pg_bin()
        if self.bin is None:
            message = "PostgreSQL is not installed (.ci/run installs Debian's postgresql)"
            if os.environ.get("FAROUT_REQUIRE_POSTGRES"):
                pytest.fail(message)
            pytest.skip(message)
        self.dir = tempfile.mkdtemp(prefix="farout-pg-")
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self._run(
            "initdb", "-D", self.data, "-U", "farout", "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "farout", "farout")

    def _run(self, tool, *args):
        command = [os.path.join(self.bin, tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.dir)

    def start(self):
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", self.data + ".log", "-w", "start")

    def stop(self):
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def url(self, database="farout"):
        return f"postgresql+psycopg://farout@127.0.0.1:{self.port}/{database}"

    def new_database(self):
        name = f"db{time.monotonic_ns()}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "farout", name)
        return self.url(name)

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def farout(*args, check=True):
    """Run the farout command line; its completed process."""
    done = subprocess.run(
        [sys.executable, "-m", "farout", *args], capture_output=True, text=True, timeout=120
    )
    if check and done.returncode != 0:
        raise AssertionError(f"farout {' '.join(args)} failed: {done.stderr}")
    return done


def make_key(registry, db=None, scope="admin"):
    args = ["keys", "create", "--scope", scope, "--registry", str(registry)]
    return farout(*args, *(["--db", db] if db else [])).stdout.strip().splitlines()[-1]


class Server:
    """``farout serve`` in a subprocess; its log is kept in ``log_path``."""

    def __init__(self, registry, db=None, *extra, log_dir=None):
        self.registry, self.db, self.extra = registry, db, extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(str(log_dir or registry), f"server-{self.port}.log")
        self.process = None

    def start(self, timeout=60):
        args = [sys.executable, "-m", "farout", "serve", "--registry", str(self.registry)]
        args += ["--port", str(self.port), *(["--db", self.db] if self.db else []), *self.extra]
        os.makedirs(self.registry, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"farout serve ended: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"farout serve did not start: {self.log()}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def kill(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        if self.process is not None:
            self._log.close()


def payments(n, seed):
    """Generated payments (amount, hour, kind) that the service tests fit
    and score."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3, 0.4, n),
            "hour": rng.integers(0, 24, n).astype(float),
            "kind": rng.choice(["card", "wire"], n),
        }
    )
